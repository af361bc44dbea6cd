#pragma once
// Fleet sizing: the smallest number of replicas that meets the scenario's SLO targets, found by
// simulation (grow, then bisect), with every candidate simulated in a child process of its own
// (SimGrid: one engine per process) and the same random numbers for every candidate.
#include <csignal>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/json.hpp"
#include "results/decomposition.hpp"
#include "results/margin.hpp"
#include "results/window.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/child_process.hpp"
#include "workloads/request.hpp"

namespace tf {

enum class SizingWindow { whole, busiest_hour };

struct SizingOptions {
  SizingWindow window = SizingWindow::whole;
  int jobs = 2;                  // child processes at once
  int max_replicas = 4096;       // search bound
  int seeds = 1;                 // seeds per candidate: seed, seed+1, ...
  double pass_share = 1.0;       // share of seeds that must meet the targets
  bool per_hour = false;         // also find the fleet each hour of the day needs
  // per_hour: each hour h is simulated over [h x 3600 - hour_warmup_s, (h + 1) x 3600) and judged over its own
  // requests (in [0, 86400]; 0: from an empty fleet at the hour's start).
  double hour_warmup_s = 1800.0;
  // A candidate passes only when the 95 % interval of each p99 (answer_margin) is below its target, beside the
  // seeds rule; the default judges the point estimates.
  bool safe_margin = false;
  bool verbose = true;           // print each probe on stdout as it completes
  // Polled while probes run (every 50 ms) and while demand is measured: once non-zero, the probes are stopped
  // (their children killed and reaped) and size_fleet throws RunInterrupted (set from a signal handler).
  const volatile std::sig_atomic_t* interrupt_flag = nullptr;
  // Where the probes run; null: size_fleet makes its own local runner (`jobs` child processes).
  JobRunner* runner = nullptr;
};

// What one simulated candidate gave.
struct Probe {
  int replicas = 0;
  std::uint64_t seed = 0;
  int pod = -1;                           // a fleet of pods: the pod simulated (its replicas are `replicas`); else -1
  double share = 1.0;                     // the share of the arrivals offered (size --scale-check); else 1
  int hour = -1;                          // an hour probe (size --per-hour): the hour of the day judged; else -1
  std::string error;                      // non-empty: the simulation could not run
  WindowFigures whole;                    // the measurement window [warmup_s, duration_s)
  WindowFigures busiest;                  // the busiest whole hour inside it (by arrivals), or `whole`
  std::vector<WindowFigures> hours;       // hour h = [h x 3600, (h+1) x 3600) clipped to the window
  std::vector<WindowFigures> slices;      // kProbeSlices equal slices of the window, for batch means (margin.hpp)
  double mfu = 0.0;                       // over the measurement window
  double busy_fraction = 0.0;
  double flops = 0.0;                     // model FLOPs done in the window
  double energy_kwh = 0.0;                // in the window
  double window_s = 0.0;
  // What binds (binding_limit): over the measurement window.
  double mean_batch = 0.0;      // requests per iteration, iteration-weighted
  double queue_p99_s = 0.0;     // waiting before admission
  std::int64_t preemptions = 0; // paged KV: running requests evicted
  const WindowFigures& evaluated(SizingWindow w) const { return w == SizingWindow::whole ? whole : busiest; }
};

// The probe as a child process sends it back (JSON), read back field for field.
TF_JSON_FIELDS(Probe, replicas, seed, pod, share, hour, error, whole, busiest, hours, slices, mfu, busy_fraction, flops, energy_kwh, window_s,
               mean_batch, queue_p99_s, preemptions)

// With per_hour: one hour's fleet, sized on hour probes (Probe::hour): the hour simulated after hour_warmup_s of the
// demand before it (from the workload's start for the first hours), judged over the requests arriving in it.
struct HourSizing {
  int hour = 0;                           // of the day: [hour x 3600, (hour + 1) x 3600)
  double start_s = 0.0, end_s = 0.0;      // the hour clipped to the measurement window
  double simulated_from_s = 0.0;          // where its probes start (an empty fleet)
  std::size_t requests = 0;               // arriving in [start_s, end_s)
  bool found = false;                     // false: no requests, or the reason says why
  std::string reason;
  int replicas = 0;                       // the smallest fleet meeting the targets over the hour
  std::vector<Probe> answer_probes;       // one per seed at `replicas`
  std::vector<Probe> below_probes;        // one per seed at replicas - 1 (empty when replicas is the smallest)
};

// A fleet of pods (s.pods > 1, pod_index -1) is sized pod by pod on the same candidates: every candidate m
// (replicas per pod) simulates each pod of the split on its own share of the arrivals (the requests `run` would give
// it), and passes when every pod meets the targets over its own requests (with --seeds, each pod with pass_share of
// the seeds): pods are equal, so the answer is the size the worst pod of the split needs, and the fleet N x m. The
// probes of a candidate are seed by seed, pod by pod within a seed.
struct SizingResult {
  bool found = false;
  std::string reason;                     // why nothing was found
  int pods = 1;                           // the pods the answer is per (1: one fleet)
  int replicas = 0;                       // the answer (per pod: the fleet is pods x replicas)
  std::vector<Probe> answer_probes;       // one per seed, at the answer
  std::vector<Probe> below_probes;        // one per seed, at answer - 1 (empty when the answer is 1)
  std::vector<Probe> probes;              // every probe, in the order run
  std::vector<int> per_hour_replicas;     // with per_hour: the fleet each hour needs (0: no requests, or none found)
  std::vector<HourSizing> per_hour;       // with per_hour: each hour of the measurement window, in order
};

// The slices of the measurement window a probe measures for batch means.
constexpr int kProbeSlices = 10;

// The 95 % intervals of a candidate's p99s and the verdict against the scenario's targets (results/margin.hpp):
// over the seeds when there are two or more (one probe per seed), else batch means over the probe's slices (the
// whole window only: a busiest-hour window with one seed has no interval, and says so).
Margin answer_margin(const std::vector<Probe>& per_seed, SizingWindow window, const SloTargets& slo);

// Which limit sets the fleet's size: judged on the largest candidate that fails (one replica fewer than the answer;
// the answer itself when that is 1), from what missed its target and why. A heuristic, its evidence given:
//   TTFT missed, mostly waiting:  "KV capacity" (preemptions, or a mean batch of 60 % or more of the requests of
//                                 the mean length the KV cache holds, when that is below max_batch), "batch cap" (a
//                                 mean batch of 60 % of max_batch or more: the mean counts the quiet moments too),
//                                 else "TTFT from queueing" (prefill throughput);
//   TTFT missed, mostly prefill:  "compute (prefill of long prompts)";
//   TPOT missed:                  "memory bandwidth (decode)" (MFU under 50 %), else "compute (decode)";
//   both met on the p99s (it fails the safe margin or the seeds rule): the limit of the target it is nearest to
//   (p99 over target), the evidence saying so.
struct BindingLimit {
  std::string limit;     // the names above; "none" when the smallest fleet tried (1; 2 disaggregated) meets them
  std::string evidence;  // the figures behind it
};
BindingLimit binding_limit(const Scenario& s, const Probe& failing, bool answer_is_one, SizingWindow window,
                           double mean_prompt, double mean_output);

// Whether the scenario's arrival rate is constant by construction (a Poisson stream at one rate: no spikes,
// bursts, sessions or trace).
bool constant_arrival_rate(const Scenario& s);

// The decomposition's inputs (results/decomposition.hpp) from a probe at the answer (for pods: fleet_probes's), its
// fleet of `gpus`: the probe's own demand, hours and FLOPs, so that k and u hold for one simulated day.
DecompositionInputs decomposition_inputs(const Scenario& s, const Probe& at_answer, int gpus);

// Demand of a scenario's workload, counted without simulating.
struct Demand {
  double requests = 0.0;
  double prompt_tokens = 0.0;
  double output_tokens = 0.0;
  double window_s = 0.0;                  // measurement window
  // Over every request, warm-up included (for unreachable_targets):
  double all_requests = 0.0;
  double all_prompt_mean = 0.0;
  double all_prompt_p99 = 0.0;
  // The whole hour of the day ([h x 3600, (h + 1) x 3600) inside the window) with the most requests, and its
  // figures; -1: no whole hour in the window. `size` scouts a large workload's answer on it.
  int busiest_hour = -1;
  double busiest_hour_requests = 0.0;
  double busiest_hour_prompt_tokens = 0.0;
  double busiest_hour_output_tokens = 0.0;
  std::vector<double> hour_tokens;  // prompt and output tokens of the window's requests, by hour of the run
  double requests_per_s() const { return window_s > 0 ? requests / window_s : 0.0; }
  double tokens_per_s() const { return window_s > 0 ? (prompt_tokens + output_tokens) / window_s : 0.0; }
  double output_tokens_per_s() const { return window_s > 0 ? output_tokens / window_s : 0.0; }
};
TF_JSON_FIELDS(Demand, requests, prompt_tokens, output_tokens, window_s, all_requests, all_prompt_mean, all_prompt_p99,
               busiest_hour, busiest_hour_requests, busiest_hour_prompt_tokens, busiest_hour_output_tokens,
               hour_tokens)

// The binding limit of an answer of `replicas_per_pod` replicas (per pod), judged where the targets are missed: on
// the first of `below` (one replica fewer's probes, fleet_probes for pods) at one replica fewer, or, with none (the
// answer is the smallest fleet tried), on the first of `at_answer` at the answer; the demand's mean prompt and
// answer lengths as its evidence's scale. The one call of binding_limit for `size` and `compare --size`.
BindingLimit answer_binding_limit(const Scenario& s, int replicas_per_pod, const std::vector<Probe>& at_answer,
                                  const std::vector<Probe>& below, SizingWindow window, const Demand& demand);

// Demand counted request by request, in constant memory (the prompt lengths as a histogram, for their 99th
// percentile): the same figures, to the bit, as sorting every prompt.
class DemandMeter {
 public:
  explicit DemandMeter(const Scenario& s);
  void add(const Request& r);
  std::uint64_t count() const { return all_; }
  double last_arrival_s() const { return last_arrival_s_; }
  // Mean output tokens over every request, warm-up included (0: none).
  double all_output_mean() const { return all_ == 0 ? 0.0 : output_sum_ / static_cast<double>(all_); }
  Demand result() const;

 private:
  double warmup_s_ = 0.0, duration_s_ = 0.0;
  Demand d_;
  struct HourCount {
    double requests = 0.0, prompt_tokens = 0.0, output_tokens = 0.0;
  };
  std::vector<HourCount> hours_;  // by hour of the run, the window's requests
  double prompt_sum_ = 0.0;
  double output_sum_ = 0.0;
  std::uint64_t all_ = 0;
  double last_arrival_s_ = 0.0;
  std::vector<std::uint64_t> small_;          // counts of prompt lengths below kSmall
  std::map<std::int64_t, std::uint64_t> large_;  // the rest
  static constexpr std::int64_t kSmall = std::int64_t{1} << 22;
};

// One pass over the scenario's requests, streamed (constant memory). With `interrupt_flag`, polled every few
// thousand requests: once set, throws RunInterrupted.
Demand measure_demand(const Scenario& s, const volatile std::sig_atomic_t* interrupt_flag = nullptr);

// How many requests `size` measures itself before it starts probing (kDemandPreviewRequests); a larger workload
// is measured whole in a job beside the first probes.
inline constexpr std::uint64_t kDemandPreviewRequests = 100000;

// `size` scouts a workload of at least this many requests over at least this window (size_fleet): its busiest
// whole hour is sized alone first, and the whole-window search starts at that answer. The environment variable
// TOKENFLEET_SCOUT_REQUESTS=N sets the first (the tests use it to take that path on small runs).
inline constexpr double kScoutMinRequests = 2e6;
inline constexpr double kScoutMinWindow_s = 4 * 3600.0;

// The demand of a scenario as `size` needs it: the first `preview` requests are measured at once; a workload
// with more is measured whole by a job of `runner` while probes run, and until then provisional() is an estimate
// (mean lengths of the preview; requests in the window from the daily curve when there is one, else the preview's
// rate), good for choosing probes to start early, never for results.
class DemandMeasurement {
 public:
  DemandMeasurement(const Scenario& s, JobRunner& runner, const volatile std::sig_atomic_t* interrupt_flag,
                    std::uint64_t preview = kDemandPreviewRequests);
  explicit DemandMeasurement(const Demand& exact) : provisional_(exact), exact_(exact), have_exact_(true) {}
  bool exact_known() const { return have_exact_; }
  const Demand& provisional() const { return provisional_; }
  std::uint64_t preview_requests() const { return preview_; }
  // The exact demand: waits for its job when needed (probes keep running). Throws what measuring threw
  // (WorkloadInputError for a bad input, SimulationError otherwise) and RunInterrupted.
  const Demand& exact();

 private:
  Demand provisional_, exact_;
  bool have_exact_ = false;
  JobRunner* runner_ = nullptr;
  JobId job_ = 0;
  std::uint64_t preview_ = 0;
};

// Throws SimulationError / ScenarioError for scenarios that cannot be sized at all (no SLO target...).
// `demand`: measure_demand(s) when the caller has it already (it depends only on the workload and the seed).
SizingResult size_fleet(const Scenario& s, const SizingOptions& options, const Demand* demand = nullptr);
// The same with the demand as it is being measured: while only its provisional figures are known, the first
// round of probes they point to is started (speculatively); the search itself waits for the exact demand and
// uses those probes only if it asks for them, so its probes and answer are those of the exact demand.
SizingResult size_fleet(const Scenario& s, const SizingOptions& options, DemandMeasurement& demand);

// The figures of a fleet of pods, seed by seed, from its pods' probes of one candidate (ordered as SizingResult
// says): replicas and counts added (requests, unfinished, tokens, FLOPs, energy), p99s the worst pod's, attainment
// weighted by requests, MFU and busy fraction the mean (the pods are equal), met when every pod meets the targets.
// One pod's probes come back as they are.
std::vector<Probe> fleet_probes(const std::vector<Probe>& probes, int pods);

// `size --scale-check`: for pods of m = 1, 2, 4, ... replicas, the largest share of the workload's arrivals
// (in_share, workloads/pod_split.hpp: what a pod of a random split gets) a pod of m meets the targets on, by
// bisection on the share. The rows' probes run together, rounds at a time, as jobs of one runner.
struct ScaleCheckOptions {
  int max_replicas = 64;            // the largest m (a power of two)
  double tolerance = 0.01;          // bisect until (fails - passes) <= tolerance x passes
  double min_requests = 100.0;      // a share with fewer requests in the window than this is not tried
  int fleet_hint = 0;               // replicas known to serve the whole workload: first guesses m / fleet_hint
};

struct ScaleCheckRow {
  int replicas = 0;                 // m
  bool found = false;               // a share was found that m meets the targets on
  std::string reason;               // without: why
  bool whole = false;               // m meets the targets on the whole workload: it serves at least the demand
  double share = 0.0;               // the largest share found to pass
  double share_fails = 0.0;         // the smallest share found to fail (0: none, with `whole`)
  double requests_per_s = 0.0;      // served at `share`: the window's requests over its length (mean over seeds)
  double tokens_per_s = 0.0;        // prompt + output tokens, likewise
  std::vector<Probe> probes;        // every probe of the row, in the order run
};

// `demand`: the whole workload's (for the first guesses). Throws RunInterrupted when interrupted.
std::vector<ScaleCheckRow> scale_check(const Scenario& s, const SizingOptions& options, const Demand& demand,
                                       const ScaleCheckOptions& check);

// One candidate simulated here (in the calling process): `replicas` replicas, `seed`; pod >= 0: that pod of a fleet of
// pods, on `share` of the arrivals; hour >= 0: only that hour of the day judged, simulated from hour_warmup_s before
// it. The window figures of the whole window, of each hour and of kProbeSlices slices. `totals`: the run's totals too.
Probe simulate_probe(const Scenario& s, int replicas, std::uint64_t seed, int pod = -1, double share = 1.0,
                     int hour = -1, double hour_warmup_s = 0.0, RunTotals* totals = nullptr);
// Whether a candidate passes on its probes, one per seed: `pass_share` of the seeds meet the targets over
// options.window, and with safe_margin the 95 % intervals of the p99s clear them too (answer_margin). The rule of
// size_fleet, for one fleet (each pod of a fleet of pods is judged by it).
bool candidate_passes(const std::vector<Probe>& per_seed, const SizingOptions& options, const SloTargets& slo);

// Runs one candidate in a child process.
Probe run_probe(const Scenario& s, int replicas, std::uint64_t seed);
// Runs candidates in child processes, at most `jobs` at once; results in the order given.
std::vector<Probe> run_probes(const Scenario& s, const std::vector<std::pair<int, std::uint64_t>>& candidates, int jobs);

// Why no fleet can meet the targets, whatever its size, from the cost model alone; nothing when it may.
std::optional<std::string> unreachable_targets(const Scenario& s, const Demand& demand);

}  // namespace tf
