#pragma once
// Internal to sim/scenario/: the TOML core (loader.cpp: parsing, --set overrides, the unknown-key check, the typed
// getters whose errors name file:line:key) and the section readers, one file each:
//   scenario.cpp            the top level (name, seed, duration_s, warmup_s) and the order the sections are read in
//   model.cpp               [model]
//   hardware.cpp            [hardware] and [hardware.gpu]
//   fleet.cpp               [fleet]
//   workload.cpp            [workload]: demand, sessions and the order of its subtables
//   workload_trace.cpp      [workload.trace]
//   workload_arrival.cpp    [workload.arrival]
//   workload_distribution.cpp  the distribution tables (prompt_tokens, output_tokens, session.questions, ...)
//   policy.cpp              [policy]
//   slo.cpp, cost.cpp       [slo], [cost]
//   failures.cpp            [failures]
//   autoscaler.cpp          [autoscaler]
#include <fmt/format.h>

#include <climits>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "sim/scenario/scenario.hpp"

namespace tf::loader {

// ---------------------------------------------------------------------------------------------
// The schema: the known keys of every table.

inline const std::vector<std::string> kTopKeys = {"name",     "seed",     "duration_s", "start_s", "warmup_s", "model", "hardware",
                                                  "fleet",    "workload", "policy",     "slo",      "cost", "failures", "autoscaler"};
inline const std::vector<std::string> kModelShapeKeys = {
    "params",         "active_params", "layers", "d_model",   "heads",   "kv_heads",
    "head_dim",       "context_window", "ffn_dim", "vocab", "gated_mlp", "experts", "experts_per_token"};
inline const std::vector<std::string> kGpuFigureKeys = {"fp16_tflops", "fp8_tflops", "hbm_gb",     "hbm_bandwidth_tbps",
                                                        "nvlink_gbps", "pcie_gbps",  "idle_watts", "busy_watts",
                                                        "decode_batch1_watts", "decode_batch128_watts"};
inline const std::vector<std::string> kPercentileKeys = {"p50", "p90", "p95", "p99", "p999"};
inline const std::vector<std::string> kDistributionKeys = {"dist", "value", "low",   "high",   "mean", "mu",  "sigma",
                                                           "stddev", "trace", "format", "min", "max", "p50", "p90",
                                                           "p95",  "p99",   "p999"};
inline const std::vector<std::string> kArrivalKeys = {
    "process",          "rate_per_s",        "requests_per_day", "cv",        "peak_to_mean", "peak_to_trough",
    "peak_hour",        "second_peak_hour",  "second_peak_ratio", "hourly",   "rate_file",    "first_day",
    "days",             "gaps",              "start_hour",       "spikes",    "burst"};
inline const std::vector<std::string> kTraceKeys = {"path",         "format",         "speed",        "rate_scale",
                                                    "jitter_s",     "loop",           "window_start_s", "window_end_s",
                                                    "skip_bad_rows", "max_prompt_tokens", "max_output_tokens"};

inline std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Known keys of the table at `path`, or nothing when `path` is not a table of the schema (loader.cpp).
const std::vector<std::string>* known_keys(const std::string& path);
// The keys of [policy]: the engine's settings, the key that chooses each kind of policy, and every parameter of a
// registered policy (policy.cpp).
std::vector<std::string> policy_keys();

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ");
std::string dotted(const std::string& parent, const std::string& key);
std::string parent_of(const std::string& path);
std::string trim(std::string_view s);
inline std::string num(double v) { return fmt::format("{}", v); }
// "a string", "an integer" ... for error messages, with the value for scalars.
std::string describe(const toml::node& n);

// The names of a catalogue (models, GPUs), for error messages.
template <class Spec>
std::string catalogue_names(const std::vector<Spec>& c) {
  std::vector<std::string> names;
  for (const auto& s : c) names.push_back(s.name);
  return join(names);
}

// ---------------------------------------------------------------------------------------------

class Loader {
 public:
  Loader(std::string file, toml::table root) : file_(std::move(file)), root_(std::move(root)) {}

  void apply_overrides(const std::vector<std::string>& overrides);
  void check_unknown_keys();
  Scenario build();  // sim/scenario/scenario.cpp: the top level, then each section's reader

  const std::string& file() const { return file_; }
  // A file path given at `key`: relative paths are relative to the scenario file's folder (a --set value or a
  // built-in text: the working folder).
  std::string resolve_path(const std::string& key, const std::string& path) const;

  // A table of the document (or an absent one) at a dotted path, with typed, range-checked getters.
  class Section {
   public:
    Section(const Loader& L, const toml::table* t, std::string path) : L_(L), t_(t), path_(std::move(path)) {}
    const Loader& loader() const { return L_; }
    bool present() const { return t_ != nullptr; }
    const std::string& path() const { return path_; }
    std::string key(const std::string& k) const { return dotted(path_, k); }
    const toml::node* node(const std::string& k) const { return t_ ? t_->get(k) : nullptr; }
    bool has(const std::string& k) const { return node(k) != nullptr; }
    [[noreturn]] void fail(const std::string& k, const std::string& msg) const { L_.fail(key(k), msg); }
    [[noreturn]] void wrong_type(const std::string& k, const std::string& expected) const {
      fail(k, fmt::format("expected {}, got {}", expected, describe(*node(k))));
    }

    Section table(const std::string& k) const {
      const toml::node* n = node(k);
      if (n && !n->is_table()) wrong_type(k, "a table");
      return Section(L_, n ? n->as_table() : nullptr, key(k));
    }

    std::optional<std::string> string(const std::string& k) const {
      const toml::node* n = node(k);
      if (!n) return std::nullopt;
      if (!n->is_string()) wrong_type(k, "a string");
      return n->as_string()->get();
    }

    std::optional<bool> boolean(const std::string& k) const {
      const toml::node* n = node(k);
      if (!n) return std::nullopt;
      if (!n->is_boolean()) wrong_type(k, "a boolean (true or false)");
      return n->as_boolean()->get();
    }

    // Integers and floats are both accepted where a number is expected.
    std::optional<double> number(const std::string& k) const {
      const toml::node* n = node(k);
      if (!n) return std::nullopt;
      double v = 0.0;
      if (n->is_integer())
        v = static_cast<double>(n->as_integer()->get());
      else if (n->is_floating_point())
        v = n->as_floating_point()->get();
      else
        wrong_type(k, "a number");
      if (!std::isfinite(v)) fail(k, fmt::format("expected a finite number, got {}", v));
      return v;
    }

    std::optional<std::int64_t> integer(const std::string& k) const {
      const toml::node* n = node(k);
      if (!n) return std::nullopt;
      if (!n->is_integer()) wrong_type(k, "an integer");
      return n->as_integer()->get();
    }

    // A number, checked against bounds: lo < v (or lo <= v) and v < hi (or v <= hi).
    struct Range {
      std::optional<double> lo, hi;
      bool lo_inclusive = true, hi_inclusive = true;
    };
    static Range greater_than(double lo) { return Range{lo, std::nullopt, false, true}; }
    static Range at_least(double lo) { return Range{lo, std::nullopt, true, true}; }

    double number_in(const std::string& k, double def, const Range& r) const {
      const auto v = number(k);
      if (!v) return def;
      check_range(k, *v, r, "a number");
      return *v;
    }
    std::int64_t integer_in(const std::string& k, std::int64_t def, std::int64_t lo, std::int64_t hi) const {
      const auto v = integer(k);
      if (!v) return def;
      if (*v < lo || *v > hi) {
        if (hi == INT64_MAX || hi == INT_MAX)
          fail(k, fmt::format("expected an integer at least {}, got {}", lo, *v));
        fail(k, fmt::format("expected an integer from {} to {}, got {}", lo, hi, *v));
      }
      return *v;
    }

    void check_range(const std::string& k, double v, const Range& r, const std::string& what) const {
      const bool lo_ok = !r.lo || (r.lo_inclusive ? v >= *r.lo : v > *r.lo);
      const bool hi_ok = !r.hi || (r.hi_inclusive ? v <= *r.hi : v < *r.hi);
      if (lo_ok && hi_ok) return;
      std::string expected;
      if (r.lo && r.hi)
        expected = fmt::format("in {}{}, {}{}", r.lo_inclusive ? "[" : "(", num(*r.lo), num(*r.hi),
                               r.hi_inclusive ? "]" : ")");
      else if (r.lo)
        expected = fmt::format("{} {}", r.lo_inclusive ? "at least" : "greater than", num(*r.lo));
      else
        expected = fmt::format("{} {}", r.hi_inclusive ? "at most" : "less than", num(*r.hi));
      fail(k, fmt::format("expected {} {}, got {}", what, expected, num(v)));
    }

   private:
    const Loader& L_;
    const toml::table* t_;
    std::string path_;
  };

  [[noreturn]] void fail(const std::string& path, const std::string& msg) const { throw error(path, msg); }
  // The error fail() throws, for a remark that is not one (Scenario::notes): "file:line: key: msg".
  ScenarioError error(const std::string& path, const std::string& msg) const {
    if (is_overridden(path)) return ScenarioError("--set", 0, path, msg);
    return ScenarioError(file_, line_of(path), path, msg);
  }

 private:
  bool is_overridden(const std::string& path) const {
    for (std::string p = path;; p = parent_of(p)) {
      if (overridden_.count(p)) return true;
      if (p.empty()) return false;
    }
  }
  // The line of a key, else of the nearest enclosing table that has one; 0 when none is known.
  int line_of(const std::string& path) const {
    for (std::string p = path; !p.empty(); p = parent_of(p)) {
      auto it = lines_.find(p);
      if (it != lines_.end() && it->second > 0) return it->second;
    }
    return 0;
  }
  void walk(const toml::table& t, const std::string& path);

  std::string file_;
  toml::table root_;
  std::set<std::string> overridden_;     // dotted paths set (or created) by --set
  std::map<std::string, int> lines_;     // dotted path -> line of its key in the file

  struct Unknown {
    int line;
    std::string path, message;
  };
  std::vector<Unknown> unknown_;
};

using Section = Loader::Section;

// --- the section readers --------------------------------------------------------------------

ModelSpec read_model(const Section& top);                 // model.cpp
void read_hardware(const Section& top, Scenario& s);      // hardware.cpp
void read_layout(const Section& hw, Scenario& s, bool pool);  // hardware.cpp: [hardware]'s GPU and layout keys
void read_fleet(const Section& top, Scenario& s);         // fleet.cpp
void read_workload(const Section& top, Scenario& s);      // workload.cpp (needs s.model)
void read_trace(const Section& w, TraceSpec& trace, std::vector<std::string>& notes);  // workload_trace.cpp
void read_arrival(const Section& w, ArrivalSpec& arrival, std::optional<double> demand_rate);  // workload_arrival.cpp
// A distribution table (or a plain number: a fixed value) at w.k. `lengths`: token lengths (integers, empirical
// allowed); otherwise a count or a time. Values and min/max are kept within [lo, hi]. workload_distribution.cpp.
DistributionSpec read_distribution(const Section& w, const std::string& k, DistributionSpec defaults, double lo,
                                   double hi, bool lengths);
void read_policy(const Section& top, Scenario& s);        // policy.cpp (needs s.replicas and s.gpu)
void read_slo(const Section& top, Scenario& s);           // slo.cpp
void read_cost(const Section& top, Scenario& s);          // cost.cpp
void read_failures(const Section& top, Scenario& s);
void read_autoscaler(const Section& top, Scenario& s);  // autoscaler.cpp (needs the fleet and [failures])
std::vector<std::string> autoscaler_keys();      // failures.cpp (needs s.replicas)

}  // namespace tf::loader
