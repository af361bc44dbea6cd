// `tokenfleet workload`: pulls every request of a scenario's workload source (no simulation), in constant memory,
// and prints what a capacity planner wants to see; optionally exports the requests as plain CSV.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "io/csv.hpp"
#include "results/summary.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/common.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "workloads/source.hpp"
#include "workloads/trace.hpp"

namespace tf {

double histogram_percentile(const std::vector<std::uint64_t>& counts, std::uint64_t total, double q) {
  if (total == 0) return 0.0;
  const double pos = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(total - 1);
  const auto lo = static_cast<std::uint64_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(lo);
  // The values at ranks lo and lo + 1 (0-based).
  double v_lo = 0.0, v_hi = 0.0;
  bool have_lo = false;
  std::uint64_t seen = 0;
  for (std::size_t v = 0; v < counts.size(); ++v) {
    if (counts[v] == 0) continue;
    seen += counts[v];
    if (!have_lo && seen > lo) {
      v_lo = static_cast<double>(v);
      have_lo = true;
    }
    if (seen > lo + 1 || (seen == total && have_lo)) {
      v_hi = static_cast<double>(v);
      break;
    }
  }
  return v_lo + frac * (v_hi - v_lo);
}

namespace {

struct LengthHistogram {
  std::vector<std::uint64_t> counts;
  std::uint64_t n = 0;
  double sum = 0.0;
  std::int64_t max = 0;
  void add(std::int64_t v) {
    const auto i = static_cast<std::size_t>(std::max<std::int64_t>(0, v));
    if (i >= counts.size()) counts.resize(std::max(i + 1, counts.size() * 2), 0);
    ++counts[i];
    ++n;
    sum += static_cast<double>(v);
    max = std::max(max, v);
  }
  std::string row(const char* name) const {
    return fmt::format("  {:<16}{:>12.1f}{:>10.0f}{:>10.0f}{:>10.0f}{:>10.0f}{:>10}\n", name, n ? sum / n : 0.0,
                       histogram_percentile(counts, n, 50), histogram_percentile(counts, n, 90),
                       histogram_percentile(counts, n, 99), histogram_percentile(counts, n, 99.9), max);
  }
};

// Does an exported CSV of this workload carry hash_ids (a Mooncake trace, or a plain CSV that has them)?
bool has_hash_ids(const WorkloadSpec& w) {
  if (!w.trace.enabled) return false;
  const std::string format = detect_trace_format(w.trace.path, w.trace.format);
  if (format == "mooncake") return true;
  if (format != "csv") return false;
  std::ifstream in(w.trace.path);
  std::string first;
  std::getline(in, first);
  return first.find("hash_ids") != std::string::npos;
}

std::string describe_workload(const Scenario& s) {
  const WorkloadSpec& w = s.workload;
  if (w.trace.enabled)
    return fmt::format("trace replay of {} (speed {}, rate scale {}{})", w.trace.path, w.trace.speed,
                       w.trace.rate_scale, w.trace.loop ? ", looped" : "");
  const ArrivalSpec& a = w.arrival;
  std::string arrivals = a.process;
  if (a.curve.kind == "parametric")
    arrivals += fmt::format(" (parametric curve, peak hour {})", a.curve.peak_hour);
  else if (a.curve.kind == "hourly")
    arrivals += " (hourly table)";
  else if (a.curve.kind == "file")
    arrivals += fmt::format(" (rate file {}, day {} + {})", a.curve.path, a.curve.first_day, a.curve.days);
  if (!a.spikes.empty()) arrivals += fmt::format(", {} spike(s)", a.spikes.size());
  if (a.burst.multiple > 0) arrivals += fmt::format(", Markov bursts x{}", a.burst.multiple);
  const std::string rate = a.rate_per_s > 0 ? fmt::format("{:.4g}/s mean", a.rate_per_s) : "the file's own rate";
  if (w.session.enabled)
    return fmt::format("sessions: visits by {} at {}; prompts {}, answers {}", arrivals, rate, w.prompt_tokens.dist,
                       w.output_tokens.dist);
  return fmt::format("requests by {} at {}; prompts {}, answers {}", arrivals, rate, w.prompt_tokens.dist,
                     w.output_tokens.dist);
}

std::string bar(double value, double max, int width) {
  if (!(max > 0.0)) return {};
  const double cells = value / max * width;
  std::string out(static_cast<std::size_t>(std::floor(cells)), '#');
  if (cells - std::floor(cells) >= 0.5) out += '+';
  return out;
}

double peak_to_mean(const std::vector<double>& v) {
  if (v.empty()) return 0.0;
  double sum = 0.0, mx = 0.0;
  for (double x : v) sum += x, mx = std::max(mx, x);
  return sum > 0.0 ? mx / (sum / static_cast<double>(v.size())) : 0.0;
}

int workload_command(const WorkloadCommand& cmd) {
  const Scenario s = cmd.scenario_path.empty()
                         ? load_scenario_text(default_scenario_toml(), "<built-in default>", cmd.overrides)
                         : load_scenario_file(cmd.scenario_path, cmd.overrides);
  const auto wall_start = std::chrono::steady_clock::now();
  const double duration = s.duration_s;
  const auto hours = static_cast<std::size_t>(std::ceil(duration / 3600.0));
  const auto minutes = static_cast<std::size_t>(std::ceil(duration / 60.0));
  std::vector<double> per_hour(hours, 0.0), per_minute(minutes, 0.0);
  LengthHistogram prompt, output;
  double prompt_tokens = 0.0, output_tokens = 0.0;
  std::uint64_t count = 0, skipped = 0, clamped = 0, context_cut = 0, context_dropped = 0;

  std::FILE* out = nullptr;
  std::string tmp;
  auto drop_export = [&] {
    if (out) std::fclose(out);
    out = nullptr;
    if (!tmp.empty()) std::remove(tmp.c_str());
  };
  try {
    auto source = make_workload_source(s.workload, s.seed, s.duration_s);
    bool hashes = false;
    if (!cmd.export_path.empty()) {
      hashes = has_hash_ids(s.workload);
      tmp = cmd.export_path + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
      out = std::fopen(tmp.c_str(), "wb");
      if (!out) {
        print_error(fmt::format("cannot write {}: {}", cmd.export_path, std::strerror(errno)));
        tmp.clear();
        return exit_io_error;
      }
    }
    std::string line;
    CsvWriter csv(line);
    auto write_line = [&] {
      if (std::fwrite(line.data(), 1, line.size(), out) != line.size())
        throw std::system_error(errno, std::generic_category(), "write");
      line.clear();
    };
    if (out) {
      if (hashes)
        csv.row({"arrival_s", "prompt_tokens", "output_tokens", "hash_ids"});
      else
        csv.row({"arrival_s", "prompt_tokens", "output_tokens"});
      write_line();
    }
    drain_source(*source, cmd.service_s, [&](const Request& r) {
      ++count;
      const auto h = static_cast<std::size_t>(r.arrival_s / 3600.0);
      if (h < per_hour.size()) per_hour[h] += 1.0;
      const auto m = static_cast<std::size_t>(r.arrival_s / 60.0);
      if (m < per_minute.size()) per_minute[m] += 1.0;
      prompt.add(r.prompt_tokens);
      output.add(r.output_tokens);
      prompt_tokens += static_cast<double>(r.prompt_tokens);
      output_tokens += static_cast<double>(r.output_tokens);
      if (out) {
        // {} is the shortest text that reads back as the same double.
        csv.format("{}", r.arrival_s).integer(r.prompt_tokens).integer(r.output_tokens);
        if (hashes) csv.format("{}", fmt::join(r.hash_ids, " "));  // one field, the ids separated by spaces
        csv.end_row();
        write_line();
      }
    });
    skipped = source->skipped_bad_rows();
    clamped = source->clamped_rows();
    context_cut = source->over_context_cut();
    context_dropped = source->over_context_dropped();
  } catch (const std::system_error& e) {  // writing the export
    drop_export();
    throw WriteError(fmt::format("cannot write {}: {}", cmd.export_path, e.what()));
  } catch (const std::exception& e) {  // a bad spec (checked already) or a bad trace row: the input is wrong
    drop_export();
    throw WorkloadInputError(e.what());
  }
  if (out) {
    const bool ok = std::fflush(out) == 0 && ::fsync(::fileno(out)) == 0;
    const bool closed = std::fclose(out) == 0;
    out = nullptr;
    if (!ok || !closed || std::rename(tmp.c_str(), cmd.export_path.c_str()) != 0) {
      std::remove(tmp.c_str());
      print_error(fmt::format("cannot write {}: {}", cmd.export_path, std::strerror(errno)));
      return exit_io_error;
    }
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();

  std::cout << fmt::format("workload of scenario '{}' ({}), seed {}, {:.0f} s\n  {}\n", s.name, s.source, s.seed,
                           duration, describe_workload(s));
  std::cout << fmt::format("requests              {} ({:.4g}/s mean)\n", count, count / duration);
  if (skipped) std::cout << fmt::format("bad trace rows        {} skipped\n", skipped);
  if (clamped) std::cout << fmt::format("trace rows cut        {} (to max_prompt_tokens / max_output_tokens)\n", clamped);
  if (context_cut)
    std::cout << fmt::format("cut to the context    {} (prompt + answer beyond the model's {} tokens; "
                             "workload.over_context = \"cut\")\n",
                             context_cut, s.workload.context_window);
  if (context_dropped)
    std::cout << fmt::format("beyond the context    {} (turned away on arrival by a run; workload.over_context = "
                             "\"drop\")\n",
                             context_dropped);
  std::cout << fmt::format("tokens per day        {:.4g} prompt + {:.4g} output = {:.4g}\n",
                           prompt_tokens / duration * 86400.0, output_tokens / duration * 86400.0,
                           (prompt_tokens + output_tokens) / duration * 86400.0);
  std::cout << fmt::format("{:<18}{:>12}{:>10}{:>10}{:>10}{:>10}{:>10}\n", "lengths (tokens)", "mean", "p50", "p90",
                           "p99", "p99.9", "max");
  std::cout << prompt.row("prompt");
  std::cout << output.row("output");

  // Whole hours and minutes only, for the ratios.
  const auto full_hours = static_cast<std::size_t>(std::floor(duration / 3600.0));
  const auto full_minutes = static_cast<std::size_t>(std::floor(duration / 60.0));
  const std::vector<double> hours_v(per_hour.begin(), per_hour.begin() + static_cast<long>(full_hours));
  const std::vector<double> minutes_v(per_minute.begin(), per_minute.begin() + static_cast<long>(full_minutes));
  if (full_hours >= 1) std::cout << fmt::format("peak-to-mean          {:.3f} of hourly counts", peak_to_mean(hours_v));
  if (full_minutes >= 1)
    std::cout << fmt::format("{}{:.3f} of per-minute counts", full_hours >= 1 ? ", " : "peak-to-mean          ",
                             peak_to_mean(minutes_v));
  std::cout << "\n";

  // The chart: each hour of the run (up to two days), else the mean of each hour of the day.
  std::vector<double> chart;
  std::string label = "hour";
  if (hours <= 48) {
    chart = per_hour;
  } else {
    label = "hour of day (mean)";
    chart.assign(24, 0.0);
    std::vector<int> n(24, 0);
    for (std::size_t h = 0; h < full_hours; ++h) chart[h % 24] += per_hour[h], ++n[h % 24];
    for (int h = 0; h < 24; ++h) chart[h] = n[h] ? chart[h] / n[h] : 0.0;
  }
  const double mx = chart.empty() ? 0.0 : *std::max_element(chart.begin(), chart.end());
  std::cout << fmt::format("requests per {}:\n", label);
  for (std::size_t h = 0; h < chart.size(); ++h) {
    const double span = hours <= 48 ? std::min(3600.0, duration - 3600.0 * h) : 3600.0;
    std::cout << fmt::format("  {:>4} {:>10.0f} {:>9.3f}/s |{}\n", h, chart[h], chart[h] / span, bar(chart[h], mx, 50));
  }
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << fmt::format("generated {} requests in {:.2f} s wall-clock ({:.3g} per second), peak RSS {:.0f} MB\n",
                           count, wall_s, count / std::max(wall_s, 1e-9), usage.ru_maxrss / 1024.0);
  if (!cmd.export_path.empty()) std::cout << "requests written to " << cmd.export_path << "\n";
  return exit_ok;
}

}  // namespace

int command_workload(const WorkloadCommand& cmd) {
  return guarded([&] { return workload_command(cmd); });
}

}  // namespace tf
