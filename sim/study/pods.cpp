#include "sim/study/pods.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
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
#include "cluster/cost_model.hpp"
#include "policies/batching.hpp"
#include "sim/replica/replica_model.hpp"
#include "workloads/distribution.hpp"
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
nlohmann::json pod_task(const Scenario& ps, const RunOptions& options, int replica_offset, const std::string& path) {
  nlohmann::json out;
  try {
    RunOptions o = options;
    o.on_progress = nullptr;
    PodRecordFile file(path, replica_offset);
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

[[noreturn]] void rethrow_pod_error(const nlohmann::json& err, const std::string& unit) {
  const std::string kind = err.at("kind").get<std::string>();
  const std::string msg = fmt::format("{}: {}", unit, err.at("message").get<std::string>());
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

namespace {

// The workload's mean prompt and answer lengths, from its distributions (before their bounds); with sessions that
// carry the conversation, the mean context carried added to the prompt ((n - 1) / 2 earlier questions and answers
// for n questions per visit, the context window not counted). A trace: its first 20,000 rows' means.
std::pair<double, double> mean_lengths(const Scenario& s) {
  const WorkloadSpec& w = s.workload;
  if (w.trace.enabled) {
    auto src = make_workload_source(w, s.seed, s.duration_s);
    double p = 0, o = 0;
    int n = 0;
    while (n < 20000 && !src->closed_loop() && std::isfinite(src->next_arrival_s())) {
      const Request r = src->take();
      p += static_cast<double>(r.prompt_tokens);
      o += static_cast<double>(r.output_tokens);
      ++n;
    }
    if (n > 0) return {p / n, o / n};
  }
  double p = make_distribution(w.prompt_tokens)->mean(), o = make_distribution(w.output_tokens)->mean();
  if (w.session.enabled && w.session.carry_context) {
    const double questions = make_distribution(w.session.questions)->mean();
    p += (questions - 1.0) / 2.0 * (p + o);
  }
  return {p, o};
}

}  // namespace

std::vector<double> pool_capacities(const Scenario& s) {
  std::vector<double> c;
  const auto [prompt, output] = mean_lengths(s);
  const auto policy = make_batching_policy(s.batching, s.policy_params);
  for (std::size_t i = 0; i < s.fleet_pools.size(); ++i) {
    const Scenario ps = pool_scenario(s, static_cast<int>(i));
    const CostModel cost(ps.model, ps.gpu, ps.dtype, ps.layout(), ps.cost);
    const double per_replica = policy ? saturated_capacity(cost, *policy, prompt, output, ps.limits.max_batch) : 0.0;
    c.push_back(per_replica * ps.replicas);
  }
  return c;
}

std::vector<double> pool_arrival_shares(const Scenario& s) {
  std::vector<double> shares;
  if (s.fleet_pools.empty()) return shares;
  if (s.fleet_pools.front().arrival_share > 0.0) {
    for (const auto& p : s.fleet_pools) shares.push_back(p.arrival_share);
    return shares;
  }
  shares = pool_capacities(s);
  double sum = 0.0;
  for (double c : shares) sum += c;
  if (!(sum > 0.0)) {  // nothing fits at the mean lengths: by FLOP/s
    shares.clear();
    for (const auto& p : s.fleet_pools) shares.push_back(p.gpus() * p.gpu.peak_flops(p.dtype));
    sum = 0.0;
    for (double c : shares) sum += c;
  }
  for (double& x : shares) x /= sum;
  return shares;
}

Scenario pool_scenario(const Scenario& s, int pool) {
  const FleetPool& p = s.fleet_pools.at(static_cast<std::size_t>(pool));
  Scenario ps = s;
  ps.gpu = p.gpu;
  ps.dtype = p.dtype;
  ps.tensor_parallel = p.tensor_parallel;
  ps.pipeline_parallel = p.pipeline_parallel;
  ps.expert_parallel = p.expert_parallel;
  ps.micro_batches = p.micro_batches;
  ps.gpus_per_node = p.gpus_per_node;
  ps.replicas = p.replicas;
  ps.pool_index = pool;
  return ps;
}

std::vector<Summary::Pool> pool_summaries(const RunResult& r) {
  std::vector<Summary::Pool> out;
  for (const PoolResult& p : r.pools) {
    Summary::Pool q;
    q.name = p.name;
    q.gpu = p.gpu;
    q.dtype = p.dtype;
    q.replicas = p.replicas;
    q.gpus = p.replicas * p.gpus_per_replica;
    q.tensor_parallel = p.tensor_parallel;
    q.pipeline_parallel = p.pipeline_parallel;
    q.expert_parallel = p.expert_parallel;
    q.arrival_share = p.arrival_share;
    q.arrived = p.arrived;
    const RunTotals& t = p.totals;
    const double w = t.window_s;
    q.output_tokens_per_s = w > 0 ? t.served_output_tokens / w : 0.0;
    q.mfu = w > 0 && t.gpus > 0 ? t.flops / (t.gpus * t.peak_flops_per_gpu * w) : 0.0;
    q.busy_fraction = w > 0 && t.replicas > 0 ? t.busy_replica_s / (t.replicas * w) : 0.0;
    q.energy_kwh = t.energy_window_j / 3.6e6;
    q.ttft_p99_s = p.ttft_s.count() > 0 ? p.ttft_s.percentile(99.0) : 0.0;
    q.tpot_p99_s = p.tpot_s.count() > 0 ? p.tpot_s.percentile(99.0) : 0.0;
    q.measured_finished = p.ttft_s.count();
    out.push_back(std::move(q));
  }
  return out;
}

Scenario pool_scenario(const Scenario& s, int pool, const std::vector<double>& shares) {
  Scenario ps = pool_scenario(s, pool);
  double lo = 0.0;
  for (int i = 0; i < pool; ++i) lo += shares[static_cast<std::size_t>(i)];
  ps.split_lo = lo;
  ps.split_hi = pool + 1 == static_cast<int>(shares.size()) ? 1.0 : lo + shares[static_cast<std::size_t>(pool)];
  return ps;
}

RunResult run_fleet(const Scenario& s, const RunOptions& options, int jobs) {
  if (s.pods <= 1 && !s.mixed()) return run_simulation(s, options);
  // Units: the pods, or a mixed fleet's pools (each with its range of the split and its replicas numbered after the
  // earlier pools').
  const bool mixed = s.mixed();
  const int units = mixed ? static_cast<int>(s.fleet_pools.size()) : s.pods;
  const std::vector<double> shares = mixed ? pool_arrival_shares(s) : std::vector<double>{};
  // A mixed fleet's pools' scenarios (a few); pods' are made in their tasks (there may be 100,000 of them), and
  // pods_scenario stands for each in what follows (they differ only in pod_index).
  std::vector<Scenario> scenarios;
  std::vector<int> offsets;
  int offset = 0;
  for (int k = 0; k < units; ++k) {
    if (mixed) scenarios.push_back(pool_scenario(s, k, shares));
    offsets.push_back(offset);
    offset += mixed ? scenarios.back().replicas : s.replicas / s.pods;
  }
  const Scenario pods_scenario = mixed ? Scenario{} : pod_scenario(s, 0);
  auto unit_scenario = [&](int k) -> const Scenario& {
    return mixed ? scenarios[static_cast<std::size_t>(k)] : pods_scenario;
  };
  for (int k = 0; k < (mixed ? units : 1); ++k) {
    try {
      check_servable(unit_scenario(k));
    } catch (const std::invalid_argument& e) {  // as run_simulation reports it
      throw SimulationError(mixed ? fmt::format("pool '{}': {}", s.fleet_pools[static_cast<std::size_t>(k)].name, e.what())
                                  : std::string(e.what()));
    } catch (const SimulationError& e) {
      if (!mixed) throw;
      throw SimulationError(fmt::format("pool '{}': {}", s.fleet_pools[static_cast<std::size_t>(k)].name, e.what()));
    }
  }
  std::vector<PodFile> files(static_cast<std::size_t>(units));
  std::vector<Task> tasks;
  for (int k = 0; k < units; ++k) {
    files[static_cast<std::size_t>(k)].path = pod_file_path(k);
    const std::string path = files[static_cast<std::size_t>(k)].path;
    Task& t = tasks.emplace_back();
    const int off = offsets[static_cast<std::size_t>(k)];
    if (mixed) {
      const Scenario* ps = &scenarios[static_cast<std::size_t>(k)];
      t.work = [ps, &options, off, path] { return pod_task(*ps, options, off, path).dump(); };
    } else {
      t.work = [&s, &options, k, off, path] { return pod_task(pod_scenario(s, k), options, off, path).dump(); };
    }
    t.label = mixed ? fmt::format("pool '{}' ({} replicas of {}, seed {})", s.fleet_pools[static_cast<std::size_t>(k)].name,
                                  scenarios[static_cast<std::size_t>(k)].replicas,
                                  scenarios[static_cast<std::size_t>(k)].gpu.name, s.seed)
                    : fmt::format("pod {} of {} ({} replicas, seed {})", k + 1, s.pods, s.replicas / s.pods, s.seed);
    t.options.result_files = {path};  // under mpirun, a pod run on another machine sends its records here
  }
  const std::vector<ChildResult> done = run_tasks(tasks, std::max(1, jobs), options.interrupt_flag);
  if (options.interrupt_flag && *options.interrupt_flag != 0)
    throw RunInterrupted(mixed ? fmt::format("stopped while running {} pools", units)
                               : fmt::format("stopped while running {} pods", s.pods));
  // Another MPI rank than 0 has run its share of the pods; rank 0 merges them.
  if (mpi::is_worker()) return RunResult();
  RunResult result;
  result.totals = RunTotals{};
  result.activity = ActivityBins(options.timeseries_window_s > 0.0 ? options.timeseries_window_s : 60.0);
  std::vector<double> pod_end(done.size(), 0.0);
  for (std::size_t k = 0; k < done.size(); ++k) {
    const std::string unit = mixed ? fmt::format("pool '{}'", s.fleet_pools[k].name)
                                   : fmt::format("pod {} of {}", k + 1, s.pods);
    if (!done[k].ok) throw SimulationError(fmt::format("{}: its process failed: {}", unit, done[k].error));
    const auto j = nlohmann::json::parse(done[k].output);
    if (j.contains("error")) rethrow_pod_error(j.at("error"), unit);
    const auto t = j.at("totals").get<RunTotals>();
    pod_end[k] = t.simulated_s;
    add_totals(result.totals, t);
    result.arrived += j.at("arrived").get<std::size_t>();
    if (mixed) {
      const Scenario& ps = scenarios[k];
      PoolResult& pr = result.pools.emplace_back();
      pr.name = s.fleet_pools[k].name;
      pr.gpu = ps.gpu.name;
      pr.dtype = to_string(ps.dtype);
      pr.replicas = ps.replicas;
      pr.gpus_per_replica = ps.gpus_per_replica();
      pr.tensor_parallel = ps.tensor_parallel;
      pr.pipeline_parallel = ps.pipeline_parallel;
      pr.expert_parallel = ps.expert_parallel;
      pr.arrival_share = ps.split_hi - ps.split_lo;
      pr.arrived = j.at("arrived").get<std::size_t>();
      pr.totals = t;
    }
    if (options.timeseries_window_s > 0.0) {
      ActivityBins bins(j.at("activity_window_s").get<double>());
      for (const auto& b : j.at("activity"))
        bins.mutable_bins().push_back(ActivityBins::Bin{b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]});
      result.activity.merge(bins);
    }
  }
  // Every GPU draws idle power until the fleet's run ends: the pods that ended earlier idle until then.
  double peak = 0.0;
  for (std::size_t k = 0; k < pod_end.size(); ++k) {
    const Scenario& ps = unit_scenario(static_cast<int>(k));
    const double gpus = static_cast<double>(ps.replicas) * ps.gpus_per_replica();
    result.totals.energy_total_j += PowerModel(ps.gpu).idle_w() * gpus * (result.totals.simulated_s - pod_end[k]);
    peak += gpus * ps.gpu.peak_flops(ps.dtype);
  }
  // A mixed fleet's peak per GPU: the mean over its GPUs (so that GPUs x peak is the fleet's peak).
  if (mixed && result.totals.gpus > 0) result.totals.peak_flops_per_gpu = peak / result.totals.gpus;
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
    if (mixed && rec.finished() && rec.arrival_s >= s.warmup_s && rec.arrival_s < s.duration_s) {
      result.pools[k].ttft_s.add(rec.ttft_s());
      if (rec.output_tokens > 1) result.pools[k].tpot_s.add(rec.tpot_s());
    }
    if (renumber) rec.id = next_id++;
    sink.arrived(rec);
    if (rec.finished() || rec.rejected) sink.ended(rec);
    if (readers[k]->next(current[k])) heads.push(key(current[k], k));
  }
  result.records = std::move(kept.records);
  return result;
}

}  // namespace tf
