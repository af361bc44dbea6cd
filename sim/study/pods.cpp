#include "sim/study/pods.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <queue>
#include <stdexcept>
#include <tuple>
#include <type_traits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cluster/power.hpp"
#include "io/json.hpp"
#include "results/record_sink.hpp"
#include "sim/study/child_process.hpp"
#include "sim/study/mpi.hpp"
#include "workloads/source.hpp"

namespace tf {

TF_JSON_FIELDS(RunTotals, replicas, gpus, peak_flops_per_gpu, window_s, busy_replica_s, flops, iterations,
               batched_requests, served_prompt_tokens, served_output_tokens, completed_in_window, preemptions,
               recomputed_tokens, kv_transfers, kv_transfer_bytes, swapped_out_tokens, swapped_in_tokens, swap_s,
               energy_window_j, energy_total_j, simulated_s, skipped_bad_rows, clamped_rows, questions_cut,
               over_context_cut, over_context_dropped, last_arrival_s, prefix_cache, prefix_lookup_blocks,
               prefix_hit_blocks, prefix_prompt_tokens, prefix_hit_tokens, prefix_saved_tokens)

namespace {

static_assert(std::is_trivially_copyable_v<RequestRecord>, "pods pass records through files byte for byte");

// A pod's records in a file of its own (binary, in id order), removed when done with.
struct PodFile {
  std::string path;
  ~PodFile() {
    if (!path.empty()) std::remove(path.c_str());
  }
};

std::string pod_file_path(int pod) {
  const auto dir = std::filesystem::temp_directory_path();
  return (dir / fmt::format("tokenfleet-pod-{}-{}.bin", getpid(), pod)).string();
}

// A pod's records written to its file in id order as they end (with its replicas numbered fleet-wide), through a
// window of the requests in flight: a record goes out once every lower id of the pod has. Ids increase with gaps
// (the pod's share of the workload's), so an ending request finds its place by binary search. Requests still
// unfinished at the end go out as they stand. Nothing is kept once written.
class PodRecordFile final : public RecordSink {
 public:
  PodRecordFile(std::string path, int replica_offset)
      : path_(std::move(path)), offset_(replica_offset), f_(std::fopen(path_.c_str(), "wb"), &std::fclose) {
    if (!f_) throw std::runtime_error(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
  }
  void arrived(const RequestRecord& r) override {
    if (!window_.empty() && r.id <= window_.back().rec.id)
      throw std::logic_error(fmt::format("pod records: request {} arrived out of order", r.id));
    window_.push_back({r, false});
  }
  void ended(const RequestRecord& r) override {
    const auto it = std::lower_bound(window_.begin(), window_.end(), r.id,
                                     [](const Slot& a, std::uint64_t id) { return a.rec.id < id; });
    if (it == window_.end() || it->rec.id != r.id)
      throw std::logic_error(fmt::format("pod records: request {} ended, not in flight", r.id));
    it->rec = r;
    it->ended = true;
    while (!window_.empty() && window_.front().ended) {
      write(window_.front().rec);
      window_.pop_front();
    }
  }
  // Writes the unfinished ones and flushes; throws on a write error.
  void finish() {
    for (const Slot& slot : window_) write(slot.rec);
    window_.clear();
    flush();
    if (std::fflush(f_.get()) != 0) throw std::runtime_error(fmt::format("cannot write {}", path_));
  }

 private:
  struct Slot {
    RequestRecord rec;
    bool ended = false;
  };
  void write(RequestRecord r) {
    if (r.replica >= 0) r.replica += offset_;
    if (r.prefill_replica >= 0) r.prefill_replica += offset_;
    buffer_.push_back(r);
    if (buffer_.size() >= 8192) flush();
  }
  void flush() {
    if (!buffer_.empty() && std::fwrite(buffer_.data(), sizeof(RequestRecord), buffer_.size(), f_.get()) != buffer_.size())
      throw std::runtime_error(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
    buffer_.clear();
  }
  std::string path_;
  int offset_;
  std::unique_ptr<FILE, int (*)(FILE*)> f_;
  std::deque<Slot> window_;
  std::vector<RequestRecord> buffer_;
};

// Reads one pod's records back, one at a time, in id order.
class RecordReader {
 public:
  explicit RecordReader(const std::string& path) : f_(std::fopen(path.c_str(), "rb"), &std::fclose) {
    if (!f_) throw std::runtime_error(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  }
  bool next(RequestRecord& r) { return std::fread(&r, sizeof r, 1, f_.get()) == 1; }

 private:
  std::unique_ptr<FILE, int (*)(FILE*)> f_;
};

// What a pod sends back besides its records.
nlohmann::json pod_task(const Scenario& ps, const RunOptions& options, int pod, const std::string& path) {
  nlohmann::json out;
  try {
    RunOptions o = options;
    o.on_progress = nullptr;
    PodRecordFile file(path, pod * ps.replicas);
    o.record_sink = &file;
    RunResult r = run_simulation(ps, o);
    file.finish();
    out["arrived"] = r.arrived;
    out["totals"] = r.totals;
    out["activity_window_s"] = r.activity.window_s();
    nlohmann::json bins = nlohmann::json::array();
    for (const auto& b : r.activity.bins())
      bins.push_back({b.busy_replica_s, b.batch_request_s, b.kv_token_s, b.iterations, b.batched_requests, b.flops,
                      b.prompt_tokens, b.output_tokens, b.energy_above_idle_j});
    out["activity"] = bins;
  } catch (const RunInterrupted& e) {
    out["error"] = {{"kind", "interrupted"}, {"message", e.what()}};
  } catch (const WorkloadInputError& e) {
    out["error"] = {{"kind", "input"}, {"message", e.what()}};
  } catch (const SimulationError& e) {
    out["error"] = {{"kind", "simulation"}, {"message", e.what()}};
  } catch (const EngineSettingError& e) {
    out["error"] = {{"kind", "setting"}, {"message", e.what()}};
  }
  return out;
}

[[noreturn]] void rethrow_pod_error(const nlohmann::json& err, int pod, int pods) {
  const std::string kind = err.at("kind").get<std::string>();
  const std::string msg = fmt::format("pod {} of {}: {}", pod + 1, pods, err.at("message").get<std::string>());
  if (kind == "interrupted") throw RunInterrupted(msg);
  if (kind == "input") throw WorkloadInputError(msg);
  if (kind == "setting") throw EngineSettingError(msg);
  throw SimulationError(msg);
}

void add_totals(RunTotals& t, const RunTotals& p) {
  t.replicas += p.replicas;
  t.gpus += p.gpus;
  t.peak_flops_per_gpu = p.peak_flops_per_gpu;
  t.window_s = p.window_s;
  t.busy_replica_s += p.busy_replica_s;
  t.flops += p.flops;
  t.iterations += p.iterations;
  t.batched_requests += p.batched_requests;
  t.served_prompt_tokens += p.served_prompt_tokens;
  t.served_output_tokens += p.served_output_tokens;
  t.completed_in_window += p.completed_in_window;
  t.preemptions += p.preemptions;
  t.recomputed_tokens += p.recomputed_tokens;
  t.kv_transfers += p.kv_transfers;
  t.kv_transfer_bytes += p.kv_transfer_bytes;
  t.swapped_out_tokens += p.swapped_out_tokens;
  t.swapped_in_tokens += p.swapped_in_tokens;
  t.swap_s += p.swap_s;
  t.energy_window_j += p.energy_window_j;
  t.energy_total_j += p.energy_total_j;
  t.simulated_s = std::max(t.simulated_s, p.simulated_s);
  // Counts of the workload itself: every pod reads the whole of it.
  t.skipped_bad_rows = p.skipped_bad_rows;
  t.clamped_rows = p.clamped_rows;
  t.questions_cut = p.questions_cut;
  t.over_context_cut += p.over_context_cut;  // counted by each pod over its own requests
  t.over_context_dropped += p.over_context_dropped;
  t.last_arrival_s = std::max(t.last_arrival_s, p.last_arrival_s);
  t.prefix_cache = t.prefix_cache || p.prefix_cache;
  t.prefix_lookup_blocks += p.prefix_lookup_blocks;
  t.prefix_hit_blocks += p.prefix_hit_blocks;
  t.prefix_prompt_tokens += p.prefix_prompt_tokens;
  t.prefix_hit_tokens += p.prefix_hit_tokens;
  t.prefix_saved_tokens += p.prefix_saved_tokens;
}

}  // namespace

Scenario pod_scenario(const Scenario& s, int pod) {
  Scenario ps = s;
  ps.replicas = s.replicas / s.pods;
  ps.pod_index = pod;
  return ps;
}

RunResult run_fleet(const Scenario& s, const RunOptions& options, int jobs) {
  if (s.pods <= 1) return run_simulation(s, options);
  try {
    check_servable(pod_scenario(s, 0));
  } catch (const std::invalid_argument& e) {  // as run_simulation reports it
    throw SimulationError(e.what());
  }
  std::vector<PodFile> files(static_cast<std::size_t>(s.pods));
  std::vector<Task> tasks;
  for (int k = 0; k < s.pods; ++k) {
    files[static_cast<std::size_t>(k)].path = pod_file_path(k);
    const std::string path = files[static_cast<std::size_t>(k)].path;
    Task& t = tasks.emplace_back();
    t.work = [&s, &options, k, path] { return pod_task(pod_scenario(s, k), options, k, path).dump(); };
    t.label = fmt::format("pod {} of {} ({} replicas, seed {})", k + 1, s.pods, s.replicas / s.pods, s.seed);
    t.options.result_files = {path};  // under mpirun, a pod run on another machine sends its records here
  }
  const std::vector<ChildResult> done = run_tasks(tasks, std::max(1, jobs), options.interrupt_flag);
  if (options.interrupt_flag && *options.interrupt_flag != 0)
    throw RunInterrupted(fmt::format("stopped while running {} pods", s.pods));
  // Another MPI rank than 0 has run its share of the pods; rank 0 merges them.
  if (mpi::is_worker()) return RunResult();
  RunResult result;
  result.totals = RunTotals{};
  result.activity = ActivityBins(options.timeseries_window_s > 0.0 ? options.timeseries_window_s : 60.0);
  std::vector<double> pod_end(done.size(), 0.0);
  for (std::size_t k = 0; k < done.size(); ++k) {
    if (!done[k].ok)
      throw SimulationError(fmt::format("pod {} of {}: its process failed: {}", k + 1, s.pods, done[k].error));
    const auto j = nlohmann::json::parse(done[k].output);
    if (j.contains("error")) rethrow_pod_error(j.at("error"), static_cast<int>(k), s.pods);
    const auto t = j.at("totals").get<RunTotals>();
    pod_end[k] = t.simulated_s;
    add_totals(result.totals, t);
    result.arrived += j.at("arrived").get<std::size_t>();
    if (options.timeseries_window_s > 0.0) {
      ActivityBins bins(j.at("activity_window_s").get<double>());
      for (const auto& b : j.at("activity"))
        bins.mutable_bins().push_back(ActivityBins::Bin{b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]});
      result.activity.merge(bins);
    }
  }
  // Every GPU draws idle power until the fleet's run ends: the pods that ended earlier idle until then.
  const double idle_w = PowerModel(s.gpu).idle_w();
  const int gpus_per_pod = result.totals.gpus / s.pods;
  for (double end : pod_end) result.totals.energy_total_j += idle_w * gpus_per_pod * (result.totals.simulated_s - end);
  // The records, merged. An open-loop workload gives every pod the same ids (the whole workload's, filtered), so the
  // merge is by id. A closed-loop one (sessions) numbers each pod's questions as they come (its answers plan them):
  // merged by arrival (then pod, then the pod's own order) and numbered again, 0, 1, 2, ... in arrival order.
  const bool renumber = make_workload_source(s.workload, s.seed, s.duration_s)->closed_loop();
  RecordVector kept;
  RecordSink& sink = options.record_sink ? *options.record_sink : kept;
  std::vector<std::unique_ptr<RecordReader>> readers;
  struct Head {
    double arrival_s;  // by id alone: 0
    std::size_t then;  // by id alone: 0; else the pod
    std::uint64_t id;
    std::size_t pod;
    bool operator>(const Head& o) const {
      return std::tie(arrival_s, then, id) > std::tie(o.arrival_s, o.then, o.id);
    }
  };
  auto key = [renumber](const RequestRecord& r, std::size_t pod) {
    return renumber ? Head{r.arrival_s, pod, r.id, pod} : Head{0.0, 0, r.id, pod};
  };
  std::priority_queue<Head, std::vector<Head>, std::greater<>> heads;
  std::vector<RequestRecord> current(files.size());
  for (std::size_t k = 0; k < files.size(); ++k) {
    readers.push_back(std::make_unique<RecordReader>(files[k].path));
    if (readers[k]->next(current[k])) heads.push(key(current[k], k));
  }
  std::uint64_t next_id = 0;
  while (!heads.empty()) {
    const std::size_t k = heads.top().pod;
    heads.pop();
    RequestRecord rec = current[k];
    if (renumber) rec.id = next_id++;
    sink.arrived(rec);
    if (rec.finished() || rec.rejected) sink.ended(rec);
    if (readers[k]->next(current[k])) heads.push(key(current[k], k));
  }
  result.records = std::move(kept.records);
  return result;
}

}  // namespace tf
