// The scenario loader: TOML (toml++) in, a validated Scenario out. Every key is documented in
// scenarios/README.md. Errors name the file, the line and the dotted key (ScenarioError).
//
// How it works: parse the text, apply the --set overrides to the parsed table, walk every table to find
// unknown keys (recording the line of every key on the way), then read each section with typed getters
// that check type and range. Distributions and arrival processes are finally checked by the workloads'
// own factories, whose errors are re-thrown here with the key they concern.
#include "sim/scenario/scenario.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <limits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <toml++/toml.h>

#include "policies/router.hpp"
#include "workloads/trace.hpp"

namespace tf {

namespace {

std::string compose(const std::string& file, int line, const std::string& key, const std::string& what) {
  std::string s = file;
  if (line > 0) s += fmt::format(":{}", line);
  s += ": ";
  if (!key.empty()) s += key + ": ";
  return s + what;
}

}  // namespace

ScenarioError::ScenarioError(std::string file, int line, std::string key, const std::string& what)
    : std::runtime_error(compose(file, line, key, what)), file_(std::move(file)), line_(line), key_(std::move(key)) {}

const std::string& default_scenario_toml() {
  static const std::string text = R"(# The built-in default scenario: `tokenfleet run` without a file runs this.
# A short, busy stretch of chat traffic on four H100s; it simulates in a few seconds.
# Every key is described in scenarios/README.md.
name = "default"
seed = 1
duration_s = 600
warmup_s = 60

[model]
name = "llama-3.1-8b"

[hardware]
gpu = "h100-sxm"
tensor_parallel = 1
dtype = "fp16"

[fleet]
replicas = 4

[workload]
arrival = { process = "poisson", rate_per_s = 20.0 }
prompt_tokens = { dist = "lognormal", mean = 1000, p99 = 6000 }
output_tokens = { dist = "lognormal", mean = 250, p99 = 1200 }

[policy]
batching = "continuous"
max_batch = 256
max_batched_tokens = 8192
router = "round-robin"

[slo]
ttft_p99_s = 2.0
tpot_p99_s = 0.2
)";
  return text;
}

namespace {

// ---------------------------------------------------------------------------------------------
// The schema: the known keys of every table.

const std::vector<std::string> kTopKeys = {"name",     "seed",     "duration_s", "warmup_s", "model", "hardware",
                                           "fleet",    "workload", "policy",     "slo",      "cost"};
const std::vector<std::string> kModelShapeKeys = {"params",   "active_params", "layers",   "d_model",
                                                  "heads",    "kv_heads",      "head_dim", "context_window"};
const std::vector<std::string> kGpuFigureKeys = {"fp16_tflops", "fp8_tflops", "hbm_gb",     "hbm_bandwidth_tbps",
                                                 "nvlink_gbps", "pcie_gbps",  "idle_watts", "busy_watts"};
const std::vector<std::string> kPercentileKeys = {"p50", "p90", "p95", "p99", "p999"};
const std::vector<std::string> kDistributionKeys = {"dist", "value", "low",   "high",   "mean", "mu",  "sigma",
                                                    "stddev", "trace", "format", "min", "max", "p50", "p90",
                                                    "p95",  "p99",   "p999"};
const std::vector<std::string> kArrivalKeys = {
    "process",          "rate_per_s",        "requests_per_day", "cv",        "peak_to_mean", "peak_to_trough",
    "peak_hour",        "second_peak_hour",  "second_peak_ratio", "hourly",   "rate_file",    "first_day",
    "days",             "gaps",              "start_hour",       "spikes",    "burst"};
const std::vector<std::string> kTraceKeys = {"path",         "format",         "speed",        "rate_scale",
                                             "jitter_s",     "loop",           "window_start_s", "window_end_s",
                                             "skip_bad_rows", "max_prompt_tokens", "max_output_tokens"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Known keys of the table at `path`, or nothing when `path` is not a table of the schema.
const std::vector<std::string>* known_keys(const std::string& path) {
  static const std::map<std::string, std::vector<std::string>> schema = {
      {"", kTopKeys},
      {"model", with({"name"}, kModelShapeKeys)},
      {"hardware", {"gpu", "tensor_parallel", "dtype", "gpus_per_node", "network_gbps", "network_latency_us"}},
      {"hardware.gpu", with({"name"}, kGpuFigureKeys)},
      {"fleet", {"replicas"}},
      {"workload", {"arrival", "prompt_tokens", "output_tokens", "session", "demand", "trace"}},
      {"workload.arrival", kArrivalKeys},
      {"workload.arrival.burst", {"multiple", "mean_burst_s", "mean_normal_s"}},
      {"workload.prompt_tokens", kDistributionKeys},
      {"workload.output_tokens", kDistributionKeys},
      {"workload.session", {"questions", "think_time_s", "carry_context"}},
      {"workload.session.questions", kDistributionKeys},
      {"workload.session.think_time_s", kDistributionKeys},
      {"workload.demand",
       {"visits_per_day", "visits_per_year", "qa_per_visit", "question_tokens", "answer_tokens", "tokens_per_qa"}},
      {"workload.trace", kTraceKeys},
      {"policy", {"batching", "max_batch", "max_batched_tokens", "router", "batch_size", "timeout_s",
                  "max_queue_delay_s", "max_queued_per_replica", "max_queued", "kv_cache", "kv_block_tokens",
                  "prefill_replicas", "decode_router", "preemption", "kv_watermark"}},
      {"slo", {"ttft_p99_s", "tpot_p99_s"}},
      {"cost", {"mfu", "mbu", "overhead_ms", "allreduce_latency_us", "kv_reserve_fraction", "attention_flops"}},
  };
  auto it = schema.find(path);
  return it == schema.end() ? nullptr : &it->second;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

std::string dotted(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string parent_of(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string num(double v) { return fmt::format("{}", v); }

// "a string", "an integer" ... for error messages, with the value for scalars.
std::string describe(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return fmt::format("a string (\"{}\")", n.as_string()->get());
    case toml::node_type::integer: return fmt::format("an integer ({})", n.as_integer()->get());
    case toml::node_type::floating_point: return fmt::format("a floating-point number ({})", n.as_floating_point()->get());
    case toml::node_type::boolean: return fmt::format("a boolean ({})", n.as_boolean()->get());
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// ---------------------------------------------------------------------------------------------

class Loader {
 public:
  Loader(std::string file, toml::table root) : file_(std::move(file)), root_(std::move(root)) {}

  void apply_overrides(const std::vector<std::string>& overrides);
  void check_unknown_keys();
  Scenario build();

  // A table of the document (or an absent one) at a dotted path, with typed, range-checked getters.
  class Section {
   public:
    Section(const Loader& L, const toml::table* t, std::string path) : L_(L), t_(t), path_(std::move(path)) {}
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

  [[noreturn]] void fail(const std::string& path, const std::string& msg) const {
    if (is_overridden(path)) throw ScenarioError("--set", 0, path, msg);
    throw ScenarioError(file_, line_of(path), path, msg);
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

  ModelSpec read_model(const Section& top);
  GpuSpec read_gpu(const Section& hw);
  // A distribution table (or a plain number: a fixed value) at w.k. `lengths`: token lengths (integers, empirical
  // allowed); otherwise a count or a time. Values and min/max are kept within [lo, hi].
  DistributionSpec read_distribution(const Section& w, const std::string& k, DistributionSpec defaults, double lo,
                                     double hi, bool lengths);
  void read_workload(const Section& top, Scenario& s);
  void read_arrival(const Section& w, ArrivalSpec& arrival, std::optional<double> demand_rate);
  std::string resolve_path(const std::string& key, const std::string& path) const;

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

// --- overrides --------------------------------------------------------------------------------

void Loader::apply_overrides(const std::vector<std::string>& overrides) {
  for (const std::string& item : overrides) {
    const auto eq = item.find('=');
    std::vector<std::string> parts;
    if (eq != std::string::npos) {
      std::string_view keys(item.data(), eq);
      std::size_t start = 0;
      while (true) {
        const auto dot = keys.find('.', start);
        parts.push_back(trim(keys.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)));
        if (dot == std::string_view::npos) break;
        start = dot + 1;
      }
    }
    if (eq == std::string::npos || std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); }))
      throw ScenarioError("--set", 0, trim(item.substr(0, eq == std::string::npos ? item.size() : eq)),
                          fmt::format("expected key=value with a dotted key, such as fleet.replicas=12; got '{}'", item));
    const std::string text = item.substr(eq + 1);

    // The value as TOML (12, 7.5, true, "str", {a = 1}); else the text itself as a bare string.
    toml::table parsed;
    bool as_toml = false;
    try {
      parsed = toml::parse(std::string_view("x = " + text), std::string_view("--set"));
      as_toml = parsed.size() == 1 && parsed.get("x") != nullptr;
    } catch (const toml::parse_error&) {
    }
    if (!as_toml) {
      parsed = toml::table{};
      parsed.insert_or_assign("x", trim(text));
    }

    toml::table* cur = &root_;
    std::string path;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      path = dotted(path, parts[i]);
      toml::node* n = cur->get(parts[i]);
      if (!n) {
        cur->insert_or_assign(parts[i], toml::table{});
        overridden_.insert(path);
        n = cur->get(parts[i]);
      }
      if (!n->is_table())
        throw ScenarioError("--set", 0, dotted(path, join({parts.begin() + static_cast<long>(i) + 1, parts.end()}, ".")),
                            fmt::format("cannot set a key inside '{}', which is {}, not a table", path, describe(*n)));
      cur = n->as_table();
    }
    const std::string& last = parts.back();
    parsed.get("x")->visit([&](auto& value) { cur->insert_or_assign(last, value); });
    overridden_.insert(dotted(path, last));
  }
}

// --- unknown keys -----------------------------------------------------------------------------

void Loader::walk(const toml::table& t, const std::string& path) {
  const std::vector<std::string>& known = *known_keys(path);
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    const std::string full = dotted(path, key);
    int line = static_cast<int>(k.source().begin.line);
    if (line <= 0) line = static_cast<int>(v.source().begin.line);
    lines_[full] = line;
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string best;
      std::size_t best_d = 3;
      for (const auto& cand : known) {
        const std::size_t d = edit_distance(key, cand);
        if (d < best_d) best_d = d, best = cand;
      }
      std::string msg = fmt::format("unknown key '{}'", key);
      if (!best.empty()) {
        msg += fmt::format("; did you mean '{}'?", best);
      } else {
        // The right key in the wrong table?
        std::string elsewhere;
        for (const std::string table : {"", "model", "hardware", "hardware.gpu", "fleet", "workload",
                                         "workload.arrival", "workload.prompt_tokens", "policy", "slo", "cost"}) {
          const auto& ks = *known_keys(table);
          if (table != path && std::find(ks.begin(), ks.end(), key) != ks.end()) {
            elsewhere = table;
            break;
          }
        }
        if (!elsewhere.empty() || (path != "" && std::find(kTopKeys.begin(), kTopKeys.end(), key) != kTopKeys.end()))
          msg += elsewhere.empty() ? "; did you mean the top-level key?"
                                   : fmt::format("; did you mean '{}.{}'?", elsewhere, key);
        else
          msg += fmt::format("; known keys{}: {}", path.empty() ? " at the top level" : " in [" + path + "]",
                             join(known));
      }
      unknown_.push_back({is_overridden(full) ? INT_MAX : line, full, msg});
      continue;
    }
    if (v.is_table() && known_keys(full)) walk(*v.as_table(), full);
  }
}

void Loader::check_unknown_keys() {
  walk(root_, "");
  if (unknown_.empty()) return;
  // The first in the file; overrides after the file's keys.
  const auto first = std::min_element(unknown_.begin(), unknown_.end(), [](const Unknown& a, const Unknown& b) {
    return a.line != b.line ? a.line < b.line : a.path < b.path;
  });
  fail(first->path, first->message);
}

// --- sections ---------------------------------------------------------------------------------

template <class Spec>
std::string catalogue_names(const std::vector<Spec>& c) {
  std::vector<std::string> names;
  for (const auto& s : c) names.push_back(s.name);
  return join(names);
}

ModelSpec Loader::read_model(const Section& top) {
  const Section m = top.table("model");
  const auto name = m.string("name");
  const bool any_shape =
      std::any_of(kModelShapeKeys.begin(), kModelShapeKeys.end(), [&](const std::string& k) { return m.has(k); });

  ModelSpec model;
  bool custom = false;
  if (name) {
    if (auto found = find_model(*name)) {
      model = *found;
    } else if (!any_shape) {
      m.fail("name", fmt::format("unknown model '{}'; known models: {} (or give an explicit shape: {})", *name,
                                 catalogue_names(model_catalog()), join(kModelShapeKeys)));
    } else {
      custom = true;
      model.name = *name;
    }
  } else if (any_shape) {
    custom = true;
    model.name = "custom";
  } else {
    model = *find_model("llama-3.1-8b");
  }
  if (custom) {
    for (const std::string k : {"params", "layers", "d_model", "kv_heads", "head_dim", "context_window"})
      if (!m.has(k))
        m.fail(k, fmt::format("missing: {}, so its shape must be given (params, layers, d_model, kv_heads, "
                              "head_dim and context_window); to change a catalogue model, name it, e.g. "
                              "model.name = \"llama-3.1-8b\" (known models: {})",
                              name ? fmt::format("'{}' is not in the catalogue", *name) : "the model has no name",
                              catalogue_names(model_catalog())));
  }

  const bool dense = custom || model.active_params == model.params;
  model.params = m.number_in("params", model.params, Section::greater_than(0));
  model.active_params = m.number_in("active_params", dense ? model.params : model.active_params,
                                    Section::greater_than(0));
  if (model.active_params > model.params)
    m.fail(m.has("active_params") ? "active_params" : "params",
           fmt::format("active_params ({}) cannot exceed params ({})", num(model.active_params), num(model.params)));
  model.layers = static_cast<int>(m.integer_in("layers", model.layers, 1, INT_MAX));
  model.d_model = static_cast<int>(m.integer_in("d_model", model.d_model, 1, INT_MAX));
  model.head_dim = static_cast<int>(m.integer_in("head_dim", model.head_dim, 1, INT_MAX));
  if (!m.has("heads") && (custom || m.has("d_model") || m.has("head_dim"))) {
    if (model.d_model % model.head_dim != 0)
      m.fail(m.has("head_dim") ? "head_dim" : "d_model",
             fmt::format("d_model ({}) is not a multiple of head_dim ({}); give heads explicitly", model.d_model,
                         model.head_dim));
    model.heads = model.d_model / model.head_dim;
  }
  model.heads = static_cast<int>(m.integer_in("heads", model.heads, 1, INT_MAX));
  model.kv_heads = static_cast<int>(m.integer_in("kv_heads", model.kv_heads, 1, INT_MAX));
  if (model.kv_heads > model.heads || model.heads % model.kv_heads != 0)
    m.fail(m.has("kv_heads") ? "kv_heads" : "heads",
           fmt::format("kv_heads ({}) must divide heads ({})", model.kv_heads, model.heads));
  model.context_window = m.integer_in("context_window", model.context_window, 1, INT64_MAX);
  return model;
}

GpuSpec Loader::read_gpu(const Section& hw) {
  const toml::node* n = hw.node("gpu");
  if (!n) return *find_gpu("h100-sxm");
  const std::string known = catalogue_names(gpu_catalog());
  if (n->is_string()) {
    const std::string name = n->as_string()->get();
    if (auto found = find_gpu(name)) return *found;
    hw.fail("gpu", fmt::format("unknown GPU '{}'; known GPUs: {} (or give a table: gpu = {{ name = ..., {} }})", name,
                               known, join(kGpuFigureKeys, " = ..., ") + " = ..."));
  }
  if (!n->is_table()) hw.wrong_type("gpu", "a string (a catalogue GPU) or a table (an explicit GPU)");

  const Section g = hw.table("gpu");
  const auto name = g.string("name");
  const bool any_figure =
      std::any_of(kGpuFigureKeys.begin(), kGpuFigureKeys.end(), [&](const std::string& k) { return g.has(k); });
  GpuSpec gpu;
  bool custom = false;
  if (name) {
    if (auto found = find_gpu(*name)) {
      gpu = *found;
    } else if (!any_figure) {
      g.fail("name", fmt::format("unknown GPU '{}'; known GPUs: {} (or give its figures: {})", *name, known,
                                 join(kGpuFigureKeys)));
    } else {
      custom = true;
      gpu.name = *name;
    }
  } else {
    custom = true;
    gpu.name = "custom-gpu";
  }
  if (custom) {
    for (const std::string k : {"fp16_tflops", "hbm_gb", "hbm_bandwidth_tbps", "nvlink_gbps", "idle_watts",
                                "busy_watts"})
      if (!g.has(k))
        g.fail(k, fmt::format("missing: {}, so its figures must be given (fp16_tflops, hbm_gb, "
                              "hbm_bandwidth_tbps, nvlink_gbps, idle_watts, busy_watts; fp8_tflops and pcie_gbps are optional); "
                              "to change a catalogue GPU, name it, e.g. gpu = {{ name = \"h100-sxm\", hbm_gb = 94 }} "
                              "(known GPUs: {})",
                              name ? fmt::format("'{}' is not in the catalogue", *name) : "the GPU has no name",
                              known));
  }
  gpu.fp16_flops = g.number_in("fp16_tflops", gpu.fp16_flops / 1e12, Section::greater_than(0)) * 1e12;
  gpu.fp8_flops = g.number_in("fp8_tflops", gpu.fp8_flops / 1e12, Section::at_least(0)) * 1e12;
  gpu.hbm_bytes = g.number_in("hbm_gb", gpu.hbm_bytes / 1e9, Section::greater_than(0)) * 1e9;
  gpu.hbm_bandwidth_Bps = g.number_in("hbm_bandwidth_tbps", gpu.hbm_bandwidth_Bps / 1e12, Section::greater_than(0)) * 1e12;
  gpu.nvlink_Bps = g.number_in("nvlink_gbps", gpu.nvlink_Bps / 1e9, Section::at_least(0)) * 1e9;
  gpu.pcie_Bps = g.number_in("pcie_gbps", gpu.pcie_Bps / 1e9, Section::at_least(0)) * 1e9;
  gpu.idle_watts = g.number_in("idle_watts", gpu.idle_watts, Section::at_least(0));
  gpu.busy_watts = g.number_in("busy_watts", gpu.busy_watts, Section::at_least(0));
  if (gpu.busy_watts < gpu.idle_watts)
    g.fail(g.has("busy_watts") ? "busy_watts" : "idle_watts",
           fmt::format("busy_watts ({}) cannot be below idle_watts ({})", num(gpu.busy_watts), num(gpu.idle_watts)));
  return gpu;
}

// Which key of a distribution table a message of make_distribution() is about.
std::string key_of_message(const Section& d, const std::string& message) {
  const auto colon = message.find(": ");
  std::string rest = colon == std::string::npos ? message : message.substr(colon + 2);
  std::string word = rest.substr(0, rest.find_first_of(" ("));
  if (!word.empty() && word.back() == ':') word.pop_back();
  if (d.has(word)) return word;
  if (!word.empty() && (word[0] == 'p' || word == "percentile"))
    for (const auto& p : kPercentileKeys)
      if (d.has(p)) return p;
  return d.has("dist") ? "dist" : "";
}

DistributionSpec Loader::read_distribution(const Section& w, const std::string& k, DistributionSpec defaults,
                                           double lo, double hi, bool lengths) {
  DistributionSpec spec = defaults;
  const std::optional<double> upper = std::isfinite(hi) ? std::optional<double>(hi) : std::nullopt;
  if (const toml::node* n = w.node(k); n && (n->is_integer() || n->is_floating_point())) {
    spec = DistributionSpec{};
    spec.dist = "fixed";
    spec.value = w.number_in(k, 0, Section::Range{lo, upper, true, true});
    spec.min = lo;
    spec.max = hi;
    return spec;
  }
  if (const toml::node* n = w.node(k); n && !n->is_table())
    w.wrong_type(k, "a table (a distribution, e.g. { dist = \"exponential\", mean = 30 }) or a number");
  const Section d = w.table(k);
  if (!d.present()) return spec;
  spec = DistributionSpec{};
  spec.column = defaults.column;

  const std::string dists = lengths ? "\"fixed\", \"uniform\", \"normal\", \"exponential\", \"geometric\", "
                                      "\"lognormal\" or \"empirical\""
                                    : "\"fixed\", \"uniform\", \"normal\", \"exponential\", \"geometric\" or "
                                      "\"lognormal\"";
  const auto dist = d.string("dist");
  if (!dist) d.fail("dist", fmt::format("missing: say which distribution (dist = {})", dists));
  spec.dist = *dist;
  static const std::map<std::string, std::vector<std::string>> uses = {
      {"fixed", {"value"}},
      {"uniform", {"low", "high"}},
      {"normal", {"mean", "stddev"}},
      {"exponential", {"mean"}},
      {"geometric", {"mean"}},
      {"lognormal", with({"mean", "mu", "sigma"}, kPercentileKeys)},
      {"empirical", {"trace", "format"}},
  };
  const auto used = uses.find(spec.dist);
  if (used == uses.end() || (!lengths && spec.dist == "empirical"))
    d.fail("dist", fmt::format("unknown dist '{}' (expected {})", spec.dist, dists));
  // Keys that this distribution does not take.
  for (const auto& key : kDistributionKeys) {
    if (key == "dist" || key == "min" || key == "max") continue;
    if (d.has(key) && std::find(used->second.begin(), used->second.end(), key) == used->second.end())
      d.fail(key, fmt::format("not used by dist = \"{}\" (it takes {}{})", spec.dist, join(used->second),
                              spec.dist == "lognormal" ? "" : ", min, max"));
  }
  auto require = [&](const std::string& key, const std::string& why) {
    if (!d.has(key)) d.fail(key, fmt::format("missing: dist = \"{}\" needs {}", spec.dist, why));
  };

  if (spec.dist == "fixed") {
    require("value", "value");
    spec.value = d.number_in("value", 0, Section::Range{lo, upper, true, true});
  } else if (spec.dist == "normal") {
    require("mean", "mean and stddev");
    require("stddev", "mean and stddev");
    spec.mean = d.number_in("mean", 0, Section::greater_than(0));
    spec.stddev = d.number_in("stddev", 0, Section::greater_than(0));
  } else if (spec.dist == "geometric") {
    require("mean", "mean (at least 1)");
    spec.mean = d.number_in("mean", 0, Section::at_least(1));
  } else if (spec.dist == "empirical") {
    require("trace", "trace, the file whose rows the lengths are drawn from");
    spec.trace = resolve_path(d.key("trace"), *d.string("trace"));
    spec.trace_format = d.string("format").value_or("");
    if (!spec.trace_format.empty() && spec.trace_format != "auto" && spec.trace_format != "azure" &&
        spec.trace_format != "mooncake" && spec.trace_format != "csv")
      d.fail("format", fmt::format("expected \"azure\", \"mooncake\", \"csv\" or \"auto\", got \"{}\"", spec.trace_format));
  } else if (spec.dist == "uniform") {
    require("low", "low and high");
    require("high", "low and high");
    spec.low = d.number_in("low", 0, Section::at_least(0));
    spec.high = d.number_in("high", 0, Section::at_least(spec.low));
  } else if (spec.dist == "exponential") {
    require("mean", "mean");
    spec.mean = d.number_in("mean", 0, Section::greater_than(0));
  } else {  // lognormal
    std::vector<std::string> given;
    for (const auto& p : kPercentileKeys)
      if (d.has(p)) given.push_back(p);
    const bool mu_sigma = d.has("mu") || d.has("sigma");
    if (mu_sigma) {
      for (const std::string key : {"mean", "p50", "p90", "p95", "p99", "p999"})
        if (d.has(key)) d.fail(key, "give either mean and one percentile, or mu and sigma, not both");
      require("mu", "mu and sigma (of the underlying normal distribution)");
      require("sigma", "mu and sigma (of the underlying normal distribution)");
      spec.mu = *d.number("mu");
      spec.sigma = d.number_in("sigma", 0, Section::greater_than(0));
      spec.has_mu_sigma = true;
    } else {
      if (given.size() > 1)
        d.fail(given[1], fmt::format("only one percentile key is allowed, got {}", join(given, " and ")));
      require("mean", "mean and one percentile (p50, p90, p95, p99 or p999), e.g. { dist = \"lognormal\", "
                      "mean = 1000, p99 = 6000 }, or mu and sigma");
      if (given.empty())
        w.fail(k, "missing a percentile: dist = \"lognormal\" with a mean needs one of p50, p90, p95, p99, p999 "
                  "(e.g. p99 = 6000)");
      spec.mean = d.number_in("mean", 0, Section::greater_than(0));
      const std::string& p = given[0];
      const double q = p == "p999" ? 99.9 : std::stod(p.substr(1));
      if (q == 50.0) {
        // The median: below the mean for any lognormal; mu and sigma follow directly.
        const double median = d.number_in("p50", 0, Section::greater_than(0));
        if (!(median < spec.mean))
          d.fail("p50", fmt::format("expected a number less than the mean ({}), got {}", num(spec.mean), num(median)));
        spec.mu = std::log(median);
        spec.sigma = std::sqrt(2.0 * std::log(spec.mean / median));
        spec.has_mu_sigma = true;
        spec.mean = 0.0;
      } else {
        const double v = *d.number(p);
        if (!(v > spec.mean))
          d.fail(p, fmt::format("expected a number greater than the mean ({}), got {}", num(spec.mean), num(v)));
        spec.percentile = q;
        spec.percentile_value = v;
      }
    }
  }
  // Lengths are clamped to [min, max]; max defaults to (and may not exceed) the model's context window.
  spec.min = d.number_in("min", lo, Section::Range{lo, upper, true, true});
  spec.max = d.number_in("max", hi, Section::Range{spec.min, upper, true, true});

  try {
    make_distribution(spec);
  } catch (const std::invalid_argument& e) {
    const std::string key = key_of_message(d, e.what());
    if (key.empty()) w.fail(k, e.what());
    d.fail(key, e.what());
  }
  return spec;
}

std::string Loader::resolve_path(const std::string& key, const std::string& path) const {
  // Relative paths are relative to the scenario file's folder (a --set value or a built-in text: the working
  // folder).
  namespace fs = std::filesystem;
  if (path.empty()) fail(key, "expected a file path, got an empty string");
  const fs::path p(path);
  if (p.is_absolute() || is_overridden(key) || file_.empty() || file_.front() == '<') return path;
  const fs::path dir = fs::path(file_).parent_path();
  return dir.empty() ? path : (dir / p).string();
}

// The key of a table that an error message of the workloads' factories is about: the first of the table's keys
// (that the table has) named in the message, else `fallback`.
std::string key_named_in(const Section& t, const std::vector<std::string>& keys, const std::string& message,
                         const std::string& fallback) {
  std::size_t best = std::string::npos;
  std::string found = fallback;
  for (const auto& k : keys) {
    if (!t.has(k)) continue;
    for (std::size_t pos = message.find(k); pos != std::string::npos; pos = message.find(k, pos + 1)) {
      const bool start_ok = pos == 0 || !(std::isalnum(static_cast<unsigned char>(message[pos - 1])) || message[pos - 1] == '_');
      const std::size_t e = pos + k.size();
      const bool end_ok = e >= message.size() || !(std::isalnum(static_cast<unsigned char>(message[e])) || message[e] == '_');
      if (start_ok && end_ok) {
        if (pos < best) best = pos, found = k;
        break;
      }
    }
  }
  return found;
}

void Loader::read_arrival(const Section& w, ArrivalSpec& arr, std::optional<double> demand_rate) {
  const Section a = w.table("arrival");  // arr is default-constructed
  arr.process = a.string("process").value_or("poisson");
  if (arr.process != "poisson" && arr.process != "gamma" && arr.process != "diurnal")
    a.fail("process", fmt::format("expected \"poisson\", \"gamma\" or \"diurnal\", got \"{}\"", arr.process));

  // The daily curve.
  const bool parametric = a.has("peak_to_mean") || a.has("peak_to_trough");
  const int curves = int(parametric) + int(a.has("hourly")) + int(a.has("rate_file"));
  if (curves > 1)
    a.fail(a.has("rate_file") ? "rate_file" : "hourly",
           "give one daily curve: peak_to_mean (or peak_to_trough), hourly or rate_file");
  RateCurveSpec& c = arr.curve;
  if (parametric) {
    c.kind = "parametric";
    if (a.has("peak_to_mean") && a.has("peak_to_trough"))
      a.fail("peak_to_trough", "give peak_to_mean or peak_to_trough, not both");
    c.peak_to_mean = a.number_in("peak_to_mean", 0, Section::at_least(1));
    c.peak_to_trough = a.number_in("peak_to_trough", 0, Section::at_least(1));
    c.peak_hour = a.number_in("peak_hour", 20, Section::Range{0.0, 24.0, true, false});
    c.second_peak_hour = a.number_in("second_peak_hour", -1, Section::Range{0.0, 24.0, true, false});
    c.second_peak_ratio = a.number_in("second_peak_ratio", 0.5, Section::Range{0.0, 1.0, false, true});
    if (a.has("second_peak_ratio") && !a.has("second_peak_hour"))
      a.fail("second_peak_ratio", "needs second_peak_hour");
  } else {
    for (const std::string k : {"peak_hour", "second_peak_hour", "second_peak_ratio"})
      if (a.has(k)) a.fail(k, "belongs to a parametric daily curve: give peak_to_mean or peak_to_trough too");
  }
  if (a.has("hourly")) {
    c.kind = "hourly";
    const toml::node* n = a.node("hourly");
    if (!n->is_array()) a.wrong_type("hourly", "an array of 24 numbers");
    const toml::array& arr24 = *n->as_array();
    if (arr24.size() != 24) a.fail("hourly", fmt::format("expected 24 weights (one per hour), got {}", arr24.size()));
    for (std::size_t i = 0; i < arr24.size(); ++i) {
      const toml::node& v = *arr24.get(i);
      double x = 0;
      if (v.is_integer()) x = static_cast<double>(v.as_integer()->get());
      else if (v.is_floating_point()) x = v.as_floating_point()->get();
      else a.fail("hourly", fmt::format("weight {} (hour {}): expected a number, got {}", i + 1, i, describe(v)));
      if (!std::isfinite(x) || x < 0)
        a.fail("hourly", fmt::format("weight {} (hour {}): expected a non-negative number, got {}", i + 1, i, num(x)));
      c.hourly.push_back(x);
    }
  }
  if (a.has("rate_file")) {
    c.kind = "file";
    c.path = resolve_path(a.key("rate_file"), *a.string("rate_file"));
    c.first_day = static_cast<int>(a.integer_in("first_day", 0, 0, INT_MAX));
    c.days = static_cast<int>(a.integer_in("days", 1, 1, INT_MAX));
    c.gaps = a.string("gaps").value_or("fill");
    if (c.gaps != "fill" && c.gaps != "zero") a.fail("gaps", fmt::format("expected \"fill\" or \"zero\", got \"{}\"", c.gaps));
  } else {
    for (const std::string k : {"first_day", "days", "gaps"})
      if (a.has(k)) a.fail(k, "belongs to a rate file: give rate_file too");
  }
  c.start_hour = a.number_in("start_hour", 0, Section::Range{0.0, 24.0, true, false});
  if (a.has("start_hour") && c.kind == "none") a.fail("start_hour", "needs a daily curve (process = \"diurnal\")");

  // The rate: rate_per_s or requests_per_day, or the demand's, or (a rate file) the file's own.
  if (a.has("rate_per_s") && a.has("requests_per_day"))
    a.fail("requests_per_day", "give rate_per_s or requests_per_day, not both");
  if (demand_rate && (a.has("rate_per_s") || a.has("requests_per_day")))
    a.fail(a.has("rate_per_s") ? "rate_per_s" : "requests_per_day",
           "the rate comes from workload.demand (visits and Q&A per visit); leave it out here");
  const double default_rate = c.kind == "file" ? 0.0 : 1.0;
  arr.rate_per_s = a.number_in("rate_per_s", default_rate, Section::greater_than(0));
  if (a.has("requests_per_day")) arr.rate_per_s = a.number_in("requests_per_day", 0, Section::greater_than(0)) / 86400.0;
  if (demand_rate) arr.rate_per_s = *demand_rate;

  if (a.has("cv") && arr.process != "gamma") a.fail("cv", "only used by process = \"gamma\"");
  arr.cv = a.number_in("cv", 1.0, Section::greater_than(0));

  // Spikes: an array of { start_s, duration_s, multiple }.
  if (const toml::node* n = a.node("spikes")) {
    if (!n->is_array()) a.wrong_type("spikes", "an array of tables { start_s = ..., duration_s = ..., multiple = ... }");
    const toml::array& list = *n->as_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      const toml::node& e = *list.get(i);
      const std::string where = fmt::format("spikes: spike {}", i + 1);
      if (!e.is_table()) a.fail("spikes", fmt::format("{}: expected a table {{ start_s, duration_s, multiple }}, got {}", where, describe(e)));
      const toml::table& t = *e.as_table();
      Spike sp;
      for (auto&& [k, v] : t) {
        const std::string key(k.str());
        double x = 0;
        if (key != "start_s" && key != "duration_s" && key != "multiple")
          a.fail("spikes", fmt::format("{}: unknown key '{}' (known: start_s, duration_s, multiple)", where, key));
        if (v.is_integer()) x = static_cast<double>(v.as_integer()->get());
        else if (v.is_floating_point()) x = v.as_floating_point()->get();
        else a.fail("spikes", fmt::format("{}: {}: expected a number, got {}", where, key, describe(v)));
        (key == "start_s" ? sp.start_s : key == "duration_s" ? sp.duration_s : sp.multiple) = x;
      }
      for (const char* k : {"start_s", "duration_s", "multiple"})
        if (!t.contains(k)) a.fail("spikes", fmt::format("{}: missing {} (a spike needs start_s, duration_s, multiple)", where, k));
      arr.spikes.push_back(sp);
    }
  }
  // Markov-modulated bursts.
  const Section b = a.table("burst");
  if (b.present()) {
    if (!b.has("multiple")) b.fail("multiple", "missing: the rate in a burst over the rate outside bursts (> 1)");
    arr.burst.multiple = b.number_in("multiple", 0, Section::at_least(1));
    arr.burst.mean_burst_s = b.number_in("mean_burst_s", 60, Section::greater_than(0));
    arr.burst.mean_normal_s = b.number_in("mean_normal_s", 600, Section::greater_than(0));
  }

  try {
    make_arrival_process(arr);
  } catch (const std::invalid_argument& e) {
    const std::string key = key_named_in(a, kArrivalKeys, e.what(), a.has("process") ? "process" : "");
    if (key.empty()) w.fail("arrival", e.what());
    a.fail(key, e.what());
  } catch (const std::runtime_error& e) {  // the rate file
    a.fail("rate_file", e.what());
  }
}

void Loader::read_workload(const Section& top, Scenario& s) {
  const Section w = top.table("workload");
  WorkloadSpec& ws = s.workload;  // default-constructed
  ws.context_window = s.model.context_window;
  const double window = static_cast<double>(s.model.context_window);
  DistributionSpec length_default;
  length_default.dist = "fixed";
  length_default.value = 128;
  length_default.min = 1;
  length_default.max = window;

  // Trace replay: arrivals and lengths come from the file.
  const Section tr = w.table("trace");
  if (tr.present()) {
    for (const std::string k : {"arrival", "prompt_tokens", "output_tokens", "session", "demand"})
      if (w.has(k))
        w.fail(k, "not used with workload.trace: the trace gives the arrivals and the lengths");
    TraceSpec& t = ws.trace;
    t.enabled = true;
    if (!tr.has("path")) tr.fail("path", "missing: the trace file to replay");
    t.path = resolve_path(tr.key("path"), *tr.string("path"));
    t.format = tr.string("format").value_or("");
    if (!t.format.empty() && t.format != "auto" && t.format != "azure" && t.format != "mooncake" && t.format != "csv")
      tr.fail("format", fmt::format("expected \"azure\", \"mooncake\", \"csv\" or \"auto\", got \"{}\"", t.format));
    t.speed = tr.number_in("speed", 1.0, Section::greater_than(0));
    t.rate_scale = tr.number_in("rate_scale", 1.0, Section::greater_than(0));
    t.jitter_s = tr.number_in("jitter_s", 1.0, Section::at_least(0));
    t.loop = tr.boolean("loop").value_or(false);
    t.window_start_s = tr.number_in("window_start_s", 0.0, Section::at_least(0));
    t.window_end_s = tr.number_in("window_end_s", std::numeric_limits<double>::infinity(),
                                  Section::greater_than(t.window_start_s));
    t.skip_bad_rows = tr.boolean("skip_bad_rows").value_or(false);
    t.max_prompt_tokens = tr.integer_in("max_prompt_tokens", 0, 0, INT64_MAX);
    t.max_output_tokens = tr.integer_in("max_output_tokens", 0, 0, INT64_MAX);
    // Check that the file opens and its first row reads (the rest is read while simulating).
    try {
      TraceReader reader(t.path, t.format, t.skip_bad_rows);
      TraceRow row;
      reader.next(row);
    } catch (const std::runtime_error& e) {
      tr.fail("path", e.what());
    }
    return;
  }

  // Demand in the analytic estimate's units.
  std::optional<double> demand_rate;
  std::optional<double> demand_qa;
  const Section dm = w.table("demand");
  const bool sessions = w.has("session");
  if (dm.present()) {
    if (dm.has("visits_per_day") == dm.has("visits_per_year"))
      dm.fail(dm.has("visits_per_day") ? "visits_per_year" : "visits_per_day",
              "give exactly one of visits_per_day and visits_per_year");
    const double visits_per_day = dm.has("visits_per_day")
                                      ? dm.number_in("visits_per_day", 0, Section::greater_than(0))
                                      : dm.number_in("visits_per_year", 0, Section::greater_than(0)) / 365.0;
    const double qa = dm.number_in("qa_per_visit", 1.0, Section::at_least(1));
    demand_qa = qa;
    demand_rate = (sessions ? visits_per_day : visits_per_day * qa) / 86400.0;
    // Tokens per Q&A: question + answer, or the total and the question.
    if (dm.has("tokens_per_qa") && dm.has("answer_tokens"))
      dm.fail("answer_tokens", "give question_tokens with answer_tokens or with tokens_per_qa, not all three");
    const bool any_tokens = dm.has("question_tokens") || dm.has("answer_tokens") || dm.has("tokens_per_qa");
    if (any_tokens) {
      if (!dm.has("question_tokens"))
        dm.fail("question_tokens", "missing: tokens per Q&A need question_tokens and answer_tokens (or tokens_per_qa)");
      if (!dm.has("answer_tokens") && !dm.has("tokens_per_qa"))
        dm.fail("answer_tokens", "missing: give answer_tokens or tokens_per_qa");
      for (const std::string k : {"prompt_tokens", "output_tokens"})
        if (w.has(k)) w.fail(k, "the lengths come from workload.demand (question_tokens, answer_tokens); leave this out");
      const double q = dm.number_in("question_tokens", 0, Section::Range{1.0, window, true, true});
      double a = 0;
      if (dm.has("answer_tokens")) {
        a = dm.number_in("answer_tokens", 0, Section::Range{1.0, window, true, true});
      } else {
        const double total = dm.number_in("tokens_per_qa", 0, Section::greater_than(q));
        a = total - q;
        if (a > window) dm.fail("tokens_per_qa", fmt::format("the answer ({}) exceeds the context window ({})", num(a), num(window)));
      }
      ws.prompt_tokens = length_default;
      ws.prompt_tokens.value = std::round(q);
      ws.output_tokens = length_default;
      ws.output_tokens.value = std::max(1.0, std::round(a));
    }
  }

  read_arrival(w, ws.arrival, demand_rate);
  DistributionSpec pd = length_default, od = length_default;
  if (dm.present() && dm.has("question_tokens")) pd = ws.prompt_tokens, od = ws.output_tokens;
  pd.column = "prompt";
  od.column = "output";
  ws.prompt_tokens = read_distribution(w, "prompt_tokens", pd, 1.0, window, true);
  ws.output_tokens = read_distribution(w, "output_tokens", od, 1.0, window, true);

  // Sessions.
  if (w.has("session")) {
    const toml::node* n = w.node("session");
    if (!n->is_table()) w.wrong_type("session", "a table { questions = ..., think_time_s = ..., carry_context = ... }");
    const Section se = w.table("session");
    SessionSpec& ss = ws.session;
    ss.enabled = true;
    DistributionSpec qd = ss.questions;
    if (demand_qa) {
      if (se.has("questions"))
        se.fail("questions", "the questions per visit come from workload.demand.qa_per_visit; leave this out");
      qd = DistributionSpec{};
      if (*demand_qa == std::floor(*demand_qa)) {
        qd.dist = "fixed";
        qd.value = *demand_qa;
      } else {
        qd.dist = "geometric";
        qd.mean = *demand_qa;
      }
    }
    qd.min = 1;
    qd.max = 1e18;
    ss.questions = read_distribution(se, "questions", qd, 1.0, std::numeric_limits<double>::infinity(), false);
    DistributionSpec td = ss.think_time_s;
    td.min = 0;
    td.max = std::numeric_limits<double>::infinity();
    ss.think_time_s = read_distribution(se, "think_time_s", td, 0.0, std::numeric_limits<double>::infinity(), false);
    ss.carry_context = se.boolean("carry_context").value_or(true);
  }
}

Scenario Loader::build() {
  Scenario s;
  const Section top(*this, &root_, "");

  if (auto name = top.string("name")) {
    if (trim(*name).empty()) top.fail("name", "expected a non-empty string");
    s.name = *name;
  } else {
    const std::string stem = std::filesystem::path(file_).stem().string();
    s.name = stem.empty() || file_.front() == '<' ? "default" : stem;
  }
  s.seed = static_cast<std::uint64_t>(top.integer_in("seed", 1, 0, INT64_MAX));
  s.duration_s = top.number_in("duration_s", 600.0, Section::greater_than(0));
  s.warmup_s = top.number_in("warmup_s", std::min(60.0, s.duration_s / 10.0), Section::at_least(0));
  // Without duration_s a trace replayed once sets it (below, once the trace is read), and the warm-up is judged then.
  const Section trace_table = top.table("workload").table("trace");
  const bool duration_from_trace = !top.has("duration_s") && trace_table.present() &&
                                   !trace_table.boolean("loop").value_or(false);
  if (s.warmup_s >= s.duration_s && !duration_from_trace) {
    if (top.has("warmup_s"))
      top.fail("warmup_s", fmt::format("expected a number less than duration_s ({}), got {}", num(s.duration_s),
                                       num(s.warmup_s)));
    top.fail("duration_s", fmt::format("expected a number greater than warmup_s ({})", num(s.warmup_s)));
  }

  s.model = read_model(top);

  const Section hw = top.table("hardware");
  s.gpu = read_gpu(hw);
  s.gpus_per_node = static_cast<int>(hw.integer_in("gpus_per_node", 8, 1, INT_MAX));
  s.tensor_parallel = static_cast<int>(hw.integer_in("tensor_parallel", 1, 1, INT_MAX));
  if (s.tensor_parallel > s.gpus_per_node || s.gpus_per_node % s.tensor_parallel != 0) {
    hw.fail(hw.has("tensor_parallel") ? "tensor_parallel" : "gpus_per_node",
            fmt::format("tensor_parallel ({}) must divide gpus_per_node ({}): a replica takes GPUs of one node",
                        s.tensor_parallel, s.gpus_per_node));
  }
  if (s.tensor_parallel > 1 && s.gpu.nvlink_Bps <= 0)
    hw.fail("tensor_parallel",
            fmt::format("tensor_parallel ({}) needs NVLink, but {} has nvlink_gbps = 0", s.tensor_parallel, s.gpu.name));
  if (auto dtype = hw.string("dtype")) {
    auto d = parse_dtype(*dtype);
    if (!d) hw.fail("dtype", fmt::format("expected one of fp16, bf16, fp8, got \"{}\"", *dtype));
    s.dtype = *d;
  }
  if (s.gpu.peak_flops(s.dtype) <= 0)
    hw.fail(hw.has("dtype") ? "dtype" : "gpu",
            fmt::format("{} has no {} support (its {} peak is 0); use hardware.dtype = \"fp16\" or \"bf16\"",
                        s.gpu.name, to_string(s.dtype), to_string(s.dtype)));
  s.network_Bps = hw.number_in("network_gbps", 400.0, Section::greater_than(0)) * 1e9 / 8.0;
  s.network_latency_s = hw.number_in("network_latency_us", 5.0, Section::at_least(0)) * 1e-6;

  const Section fleet = top.table("fleet");
  s.replicas = static_cast<int>(fleet.integer_in("replicas", 1, 1, INT_MAX));

  read_workload(top, s);
  // A trace replayed once without duration_s: the run lasts until its last row has arrived (a looped trace keeps
  // the default, since it never ends).
  const TraceSpec& trace = s.workload.trace;
  if (duration_from_trace) {
    double span = 0.0;
    try {
      span = trace_span_s(trace);
    } catch (const std::runtime_error& e) {
      trace_table.fail("path", e.what());
    }
    // A little past the last arrival (its copies with rate_scale > 1 come up to jitter_s later).
    s.duration_s = span + (trace.rate_scale > 1.0 ? trace.jitter_s : 0.0) + 1e-3;
    s.duration_from_trace = true;
    if (!top.has("warmup_s")) {
      s.warmup_s = std::min(60.0, s.duration_s / 10.0);
    } else if (s.warmup_s >= s.duration_s) {
      top.fail("warmup_s", fmt::format("expected a number less than duration_s, which is the trace's span ({} s) "
                                       "when duration_s is left out; got {}",
                                       num(s.duration_s), num(s.warmup_s)));
    }
  }

  const Section p = top.table("policy");
  s.limits.max_batch = static_cast<int>(p.integer_in("max_batch", 256, 1, INT_MAX));
  s.limits.max_batched_tokens = p.integer_in("max_batched_tokens", 8192, 1, INT64_MAX);
  s.limits.batch_size = static_cast<int>(p.integer_in("batch_size", s.limits.batch_size, 1, INT_MAX));
  s.limits.timeout_s = p.number_in("timeout_s", s.limits.timeout_s, Section::at_least(0));
  s.limits.max_queue_delay_s = p.number_in("max_queue_delay_s", s.limits.max_queue_delay_s, Section::at_least(0));
  s.max_queued_per_replica = p.integer_in("max_queued_per_replica", 0, 0, INT64_MAX);
  s.max_queued = p.integer_in("max_queued", 0, 0, INT64_MAX);
  {
    const std::string kv = p.string("kv_cache").value_or("reserve");
    if (kv != "reserve" && kv != "paged")
      p.fail("kv_cache", fmt::format("expected \"reserve\" or \"paged\", got \"{}\"", kv));
    const std::int64_t block = p.integer_in("kv_block_tokens", 16, 1, 1 << 20);
    s.kv_block_tokens = kv == "paged" ? block : 0;
    s.kv_watermark = p.number_in("kv_watermark", 0.01, Section::Range{0.0, 0.5, true, false});
  }
  s.batching = p.string("batching").value_or("continuous");
  try {
    if (!make_batching_policy(s.batching, s.limits))
      p.fail("batching",
             fmt::format("unknown batching policy \"{}\"; known: {}", s.batching, join(batching_policy_names())));
  } catch (const std::invalid_argument& e) {
    p.fail("batching", fmt::format("{}: {}", s.batching, e.what()));
  }
  s.router = p.string("router").value_or("round-robin");
  if (!make_router(s.router))
    p.fail("router", fmt::format("unknown router \"{}\"; known: {}", s.router, join(router_names())));
  {
    const auto policy = make_batching_policy(s.batching, s.limits);
    const bool disaggregated = policy && policy->disaggregates();
    for (const char* key : {"prefill_replicas", "decode_router"})
      if (!disaggregated && p.has(key))
        p.fail(key, fmt::format("only for policy.batching = \"disaggregated\" (batching is \"{}\")", s.batching));
    if (disaggregated) {
      if (s.replicas < 2)
        p.fail("batching", fmt::format("disaggregated serving needs at least 2 replicas (one prefill, one decode); "
                                       "fleet.replicas is {}",
                                       s.replicas));
      const std::int64_t prefill =
          p.integer_in("prefill_replicas", default_prefill_replicas(s.replicas), 1, s.replicas - 1);
      s.prefill_share = static_cast<double>(prefill) / static_cast<double>(s.replicas);
      s.decode_router = p.string("decode_router").value_or("");  // empty: follows policy.router
      const auto decode = make_router(decode_router_of(s));
      if (!decode)
        p.fail("decode_router", fmt::format("unknown router \"{}\"; known: {}", s.decode_router, join(router_names())));
      if (decode->central_queue())
        p.fail("decode_router", "central-queue cannot pick a decode replica: the KV cache must know where to go "
                                "when the prefill ends; choose a router that picks a replica (least-tokens, least-kv, ...)");
    }
    // Preemption with a paged cache: recompute (the KV is thrown away) or swap (copied to host memory over PCIe).
    const std::string pre = p.string("preemption").value_or("recompute");
    if (pre != "recompute" && pre != "swap")
      p.fail("preemption", fmt::format("expected \"recompute\" or \"swap\", got \"{}\"", pre));
    s.swap_preemption = pre == "swap";
    if (s.swap_preemption && s.kv_block_tokens <= 0)
      p.fail("preemption", "\"swap\" needs policy.kv_cache = \"paged\": the reserved cache (the default) never "
                           "preempts a request");
    if (s.swap_preemption && s.gpu.pcie_Bps <= 0)
      p.fail("preemption", fmt::format("\"swap\" copies KV over PCIe, but {} has no PCIe bandwidth; give "
                                       "hardware.gpu.pcie_gbps",
                                       s.gpu.name));
    if (const std::string why = policy_conflict(s); !why.empty()) p.fail("preemption", why);
  }

  const Section slo = top.table("slo");
  s.slo.ttft_p99_s = slo.number_in("ttft_p99_s", 0.0, Section::greater_than(0));
  s.slo.tpot_p99_s = slo.number_in("tpot_p99_s", 0.0, Section::greater_than(0));

  const Section c = top.table("cost");
  const CostParams defaults;
  s.cost.mfu = c.number_in("mfu", defaults.mfu, Section::Range{0.0, 1.0, false, true});
  s.cost.mbu = c.number_in("mbu", defaults.mbu, Section::Range{0.0, 1.0, false, true});
  s.cost.overhead_s = c.number_in("overhead_ms", defaults.overhead_s * 1e3, Section::at_least(0)) * 1e-3;
  s.cost.allreduce_latency_s =
      c.number_in("allreduce_latency_us", defaults.allreduce_latency_s * 1e6, Section::at_least(0)) * 1e-6;
  s.cost.kv_reserve_fraction =
      c.number_in("kv_reserve_fraction", defaults.kv_reserve_fraction, Section::Range{0.0, 1.0, true, false});
  s.cost.attention_flops = c.boolean("attention_flops").value_or(defaults.attention_flops);

  s.source = file_;
  return s;
}

}  // namespace

namespace {
// Without policy.prefill_replicas a quarter of the fleet prefills: conversation traffic spends most of its GPU time
// decoding.
constexpr double kDefaultPrefillShare = 0.25;
}  // namespace

int default_prefill_replicas(int replicas) {
  if (replicas < 2) return 0;
  return static_cast<int>(
      std::clamp<long long>(std::llround(kDefaultPrefillShare * static_cast<double>(replicas)), 1, replicas - 1));
}

int prefill_pool_size(const Scenario& s) {
  bool disaggregated = false;
  try {
    const auto policy = make_batching_policy(s.batching, s.limits);
    disaggregated = policy && policy->disaggregates();
  } catch (const std::invalid_argument&) {
  }
  if (!disaggregated || s.replicas < 2) return 0;
  if (s.prefill_share <= 0.0) return default_prefill_replicas(s.replicas);  // e.g. compare --policies disaggregated
  const auto n = std::llround(s.prefill_share * static_cast<double>(s.replicas));
  return static_cast<int>(std::clamp<long long>(n, 1, s.replicas - 1));
}

std::string policy_conflict(const Scenario& s) {
  if (!s.swap_preemption) return "";
  // With disaggregated serving only decode replicas preempt running answers: their router is the one that matters.
  const std::string router = prefill_pool_size(s) > 0 ? decode_router_of(s) : s.router;
  const auto r = make_router(router);
  if (r && r->central_queue())
    return fmt::format("\"swap\" keeps a preempted request's KV in its replica's host memory, but router \"{}\" may "
                       "hand it to another replica; use preemption = \"recompute\" or another router",
                       router);
  return "";
}

std::string decode_router_of(const Scenario& s) {
  if (!s.decode_router.empty()) return s.decode_router;
  const auto router = make_router(s.router);
  return router && router->central_queue() ? "least-tokens" : s.router;
}

Scenario load_scenario_text(const std::string& toml_text, const std::string& source_name,
                            const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(std::string_view(toml_text), std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    throw ScenarioError(source_name, static_cast<int>(e.source().begin.line), "",
                        fmt::format("TOML syntax error: {}", e.description()));
  }
  Loader loader(source_name, std::move(root));
  loader.apply_overrides(overrides);
  loader.check_unknown_keys();
  return loader.build();
}

Scenario load_scenario_file(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ScenarioError(path, 0, "", "cannot open file (it is a directory)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ScenarioError(path, 0, "", "cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return load_scenario_text(ss.str(), path, overrides);
}

}  // namespace tf
