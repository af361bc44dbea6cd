// [workload.arrival]: the arrival process, its daily curve, rate, spikes and bursts, checked at last by the
// workloads' make_arrival_process().
#include "sim/scenario/loader.hpp"

#include <fmt/format.h>

#include <cctype>
#include <climits>
#include <cmath>

#include "workloads/arrival.hpp"

namespace tf::loader {

namespace {

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

}  // namespace

void read_arrival(const Section& w, ArrivalSpec& arr, std::optional<double> demand_rate) {
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
    c.path = a.loader().resolve_path(a.key("rate_file"), *a.string("rate_file"));
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

}  // namespace tf::loader
