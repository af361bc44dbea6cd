// The distribution tables of [workload] (prompt_tokens, output_tokens, session.questions, session.think_time_s):
// a plain number (a fixed value) or { dist = ..., ... }, checked at last by the workloads' make_distribution().
#include "sim/scenario/loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "workloads/distribution.hpp"

namespace tf::loader {

namespace {

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

}  // namespace

DistributionSpec read_distribution(const Section& w, const std::string& k, DistributionSpec defaults,
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
    spec.trace = d.loader().resolve_path(d.key("trace"), *d.string("trace"));
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

}  // namespace tf::loader
