// The fuzz harnesses (harnesses.hpp). Each input is bounded so that it runs in milliseconds: fleets above
// kMaxGpus GPUs are not laid out (the loader accepts far more; see issue 11), at most kRequests requests are
// drawn, and scenario text that could name a device or kernel file (/dev, /proc, /sys, or a \u escape that could
// spell one) is not loaded, since reading /dev/zero as a trace never ends.
#include "tests/fuzz/harnesses.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "cluster/cost_model.hpp"
#include "cluster/topology.hpp"
#include "sim/scenario/scenario.hpp"
#include "workloads/source.hpp"
#include "workloads/trace.hpp"

namespace tf::fuzz {

namespace {

constexpr long long kMaxGpus = 4096;
constexpr int kRequests = 64;

// A harness found something the CLI would report as an internal error (exit 5) or a wrong answer.
[[noreturn]] void finding(const std::string& what) { throw std::logic_error("fuzz finding: " + what); }

bool names_special_files(std::string_view text) {
  for (std::string_view bad : {"/dev", "/proc", "/sys", "\\u", "\\U"})
    if (text.find(bad) != std::string_view::npos) return true;
  return false;
}

// The cost model, the layout and topology, and the first requests of a loaded scenario.
void exercise(const Scenario& s) {
  if (s.replicas < 1 || s.tensor_parallel < 1) finding("the loader let through a fleet of no replica");
  if (static_cast<long long>(s.replicas) * s.tensor_parallel > kMaxGpus) return;
  if (s.gpu.peak_flops(s.dtype) > 0.0) {
    const CostModel cost(s.model, s.gpu, s.dtype, s.tensor_parallel, s.cost);
    IterationShape shape;
    shape.prefill_tokens = 512;
    shape.prefill_attention_context = 512.0 * 513.0 / 2.0;
    shape.decode_tokens = 8;
    shape.decode_context_tokens = 8 * 1000;
    const double t = cost.iteration_time_s(shape);
    if (!(t > 0.0) || !std::isfinite(t)) finding(fmt::format("iteration time {} s", t));
    if (cost.kv_capacity_tokens() > 0) (void)cost.decode_stretch_s(8, 8000, 16);
  }
  std::vector<std::vector<int>> layout;
  try {
    layout = layout_replicas(s.replicas, s.tensor_parallel, s.gpus_per_node);
  } catch (const std::invalid_argument&) {
    return;  // exit 3 with what to change
  }
  if (static_cast<int>(layout.size()) != s.replicas) finding("layout has another number of replicas");
  TopologySpec topo;
  const int per_node = s.gpus_per_node / s.tensor_parallel;
  const int nodes = (s.replicas + per_node - 1) / per_node;
  topo.gpus_per_node = s.gpus_per_node;
  topo.gpus = nodes * s.gpus_per_node;
  topo.nvlink_Bps = s.gpu.nvlink_Bps;
  topo.network_Bps = s.network_Bps;
  topo.network_latency_s = s.network_latency_s;
  (void)build_topology(topo);

  const auto source = make_workload_source(s.workload, s.seed, s.duration_s);
  double last = -1.0;
  for (int i = 0; i < kRequests; ++i) {
    const auto r = source->next();
    if (!r) break;
    if (!std::isfinite(r->arrival_s) || r->arrival_s < 0.0 || r->arrival_s < last)
      finding(fmt::format("request {} arrives at {} s after one at {} s", r->id, r->arrival_s, last));
    if (r->prompt_tokens < 1 || r->output_tokens < 1)
      finding(fmt::format("request {} has {} prompt and {} output tokens", r->id, r->prompt_tokens, r->output_tokens));
    last = r->arrival_s;
    if (source->closed_loop()) source->on_finished(r->id, r->arrival_s + 1.0);
  }
}

int load_and_exercise(const std::string& text, const std::vector<std::string>& overrides) {
  try {
    exercise(load_scenario_text(text, "<fuzz>", overrides));
  } catch (const ScenarioError&) {
  } catch (const TraceError&) {  // a bad row met while replaying: exit 2
  }
  return 0;
}

// The trace harness's temporary file, one per process.
std::string temp_trace(const char* ext) {
  return (std::filesystem::temp_directory_path() / fmt::format("tokenfleet-fuzz-{}{}", static_cast<long>(getpid()), ext))
      .string();
}

}  // namespace

int scenario_text(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (names_special_files(text)) return 0;
  return load_and_exercise(text, {});
}

int set_overrides(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (names_special_files(text)) return 0;
  std::vector<std::string> overrides;
  std::size_t start = 0;
  while (start <= text.size() && overrides.size() < 8) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    overrides.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return load_and_exercise(default_scenario_toml(), overrides);
}

int trace_reader(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t head = 6;
  if (size < head) return 0;
  static const char* const formats[] = {"azure", "csv", "mooncake", "auto"};
  static const double scales[] = {1.0, 0.5, 2.0, 0.01, 3.7, 100.0, 1e6, 1e-9};
  static const double speeds[] = {1.0, 2.0, 0.5, 1000.0, 1e-3, 60.0, 1e9, 1e-9};
  static const double times[] = {0.0, 1.0, 10.0, 60.0, 0.5, 3600.0, 1e9, 1e-6};
  const std::uint8_t flags = data[1];
  const std::string format = formats[data[0] % 4];
  const bool jsonl = format == "mooncake" || (format == "auto" && (flags & 0x40));
  const std::string path = temp_trace(jsonl ? ".jsonl" : ".csv");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + head), static_cast<std::streamsize>(size - head));
  }
  const bool skip = flags & 0x01, loop = flags & 0x02, window = flags & 0x04, with_duration = flags & 0x08;
  const double window_start = times[data[4] % 8], window_end = window_start + 1.0 + times[data[5] % 8];
  std::string toml = fmt::format(
      "name = \"fuzz-trace\"\nseed = {}\n{}warmup_s = 0\n[model]\nname = \"llama-3.1-8b\"\n[hardware]\ngpu = "
      "\"h100-sxm\"\n[fleet]\nreplicas = 2\n[workload.trace]\npath = \"{}\"\nformat = \"{}\"\nskip_bad_rows = {}\n"
      "loop = {}\nrate_scale = {}\nspeed = {}\n",
      1 + (flags >> 4), with_duration || loop ? "duration_s = 600\n" : "", path, format, skip, loop,
      scales[data[2] % 8], speeds[data[3] % 8]);
  if (window) toml += fmt::format("window_start_s = {}\nwindow_end_s = {}\n", window_start, window_end);
  load_and_exercise(toml, {});
  // The reader alone, every row (the file is as long as the input).
  try {
    TraceReader reader(path, format == "auto" ? "" : format, skip);
    TraceRow row;
    for (int pass = 0; pass < 2; ++pass) {
      while (reader.next(row)) {
        if (row.prompt_tokens < 1 || row.output_tokens < 1 || !std::isfinite(row.time_s))
          finding(fmt::format("{}:{}: row read as {} s, {} prompt, {} output tokens", path, row.line, row.time_s,
                              row.prompt_tokens, row.output_tokens));
      }
      reader.rewind();
    }
  } catch (const TraceError&) {
  }
  std::remove(path.c_str());
  return 0;
}

const std::vector<Harness>& harnesses() {
  static const std::vector<Harness> all = {
      {"scenario", scenario_text}, {"set", set_overrides}, {"trace", trace_reader}};
  return all;
}

}  // namespace tf::fuzz
