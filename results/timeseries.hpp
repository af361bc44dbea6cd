#pragma once
// Time series of a run: one row per window of simulated time (one minute by default), written as timeseries.csv.
//
// Two sources feed it:
// - the per-request records (arrivals, completions, queued and running requests as time averages, TTFT/TPOT
//   percentiles and SLO attainment of the requests that arrived in the window, offered tokens);
// - the replicas' steps, reported by the replica model as StepActivity and spread over the windows in
//   proportion to time (busy fraction, mean batch size, KV cache in use, tokens served, power: idle power on every
//   GPU, plus each step's power above idle over its share of the window, so that Σ power_w × length is the
//   energy of the run exactly).
// Plain C++: results/ depends on nothing of ours but io/.
#include <cstdint>
#include <string>
#include <vector>

#include "results/records.hpp"

namespace tf {

// One step of one replica: an interval during which the batch, and so the KV cache reserved, stayed the same.
struct StepActivity {
  double start_s = 0.0, end_s = 0.0;
  double batch_requests = 0.0;        // requests in the batch
  double kv_reserved_tokens = 0.0;    // KV cache reserved on the replica during the step
  double iterations = 0.0;
  double flops = 0.0;
  double prompt_tokens = 0.0;         // prefilled during the step
  double output_tokens = 0.0;         // produced during the step
  double power_above_idle_w = 0.0;    // the replica's GPUs together: their power during the step minus idle power
};

// The most rows (windows) a time series holds: sized from this, never from a huge span over a tiny window. A run
// whose span needs more is refused with the --window that fits (sim/cli/run.cpp).
inline constexpr double kMaxTimeseriesRows = 1e6;

// Rows of the series of a run whose last event is at `last_s`, windows of `window_s`: ceil(last_s / window_s), at
// least 1; as a double, which may exceed kMaxTimeseriesRows (or be infinite) for the caller to refuse.
double timeseries_rows(double last_s, double window_s);
// The time of a run's last event: `end_s` or a later arrival or completion of the records.
double last_event_s(const std::vector<RequestRecord>& records, double end_s);

// Step activity summed per window (at most kMaxTimeseriesRows bins: activity beyond the last counts in it); steps that straddle a window edge are split in proportion to time.
class ActivityBins {
 public:
  explicit ActivityBins(double window_s = 60.0);
  double window_s() const { return window_s_; }
  void add(const StepActivity& a);

  struct Bin {
    double busy_replica_s = 0.0;
    double batch_request_s = 0.0;     // integral of the batch size over time
    double kv_token_s = 0.0;          // integral of the KV tokens reserved over time
    double iterations = 0.0;
    double batched_requests = 0.0;    // sum over iterations of the batch size
    double flops = 0.0;
    double prompt_tokens = 0.0;
    double output_tokens = 0.0;
    double energy_above_idle_j = 0.0;  // integral of power_above_idle_w over time
    double replica_s[3] = {0.0, 0.0, 0.0};  // [autoscaler]: replica time serving, starting, draining
    Bin& operator+=(const Bin& o);
  };
  // [autoscaler]: a replica was serving (0), starting (1) or draining (2) over [start_s, end_s).
  void add_replica_state(int state, double start_s, double end_s);
  bool replica_states() const { return replica_states_; }
  const std::vector<Bin>& bins() const { return bins_; }
  // Adds another run's bins of the same window (pods of one fleet): bin by bin, the longer run's length.
  void merge(const ActivityBins& other);
  std::vector<Bin>& mutable_bins() { return bins_; }  // to read bins back (pods' results)

 private:
  double window_s_;
  std::vector<Bin> bins_;
  bool replica_states_ = false;
};

// What the time series needs to know about the fleet besides the records and the activity.
struct FleetFacts {
  int replicas = 0;
  int gpus_per_replica = 1;
  double kv_capacity_tokens_per_replica = 0.0;
  double idle_watts_per_gpu = 0.0;    // the steps' power above it comes with the activity
  double capacity_tokens_per_s = 0.0;  // prompt + output tokens/s the fleet serves when saturated (0: unknown)
  SloTargets slo;
};

struct TimeseriesRow {
  double start_s = 0.0, end_s = 0.0;
  std::size_t arrivals = 0;           // requests that arrived in [start, end)
  std::size_t completions = 0;        // requests that finished in [start, end) (the last window also takes its end)
  double queued_mean = 0.0;           // time average of requests arrived and not yet admitted
  double running_mean = 0.0;          // time average of requests admitted and not yet finished
  double mean_batch = 0.0;            // requests per iteration, iteration-weighted (0 when no iteration)
  double kv_used_fraction = 0.0;      // time average of KV reserved over the fleet's KV capacity
  double busy_fraction = 0.0;         // busy replica-seconds over replicas x window length
  // Latency of the requests that arrived in the window (unfinished ones left out); NaN when there are none.
  double ttft_p50_s = 0.0, ttft_p99_s = 0.0, tpot_p50_s = 0.0, tpot_p99_s = 0.0;
  double slo_attainment = 0.0;        // share of the window's arrivals meeting both per-request targets; NaN if none
  double offered_tokens_per_s = 0.0;  // prompt + output tokens of the window's arrivals, per second
  double served_tokens_per_s = 0.0;   // prompt tokens prefilled + output tokens produced in the window, per second
  double served_output_tokens_per_s = 0.0;
  double capacity_tokens_per_s = 0.0;
  double power_w = 0.0;               // the fleet's GPUs together, mean over the window (W)
  // [autoscaler] (columns only then): replicas serving, starting and draining, time averages over the window.
  double replicas_serving = 0.0, replicas_starting = 0.0, replicas_draining = 0.0;
};

// Rows from time 0 to the end of the run (`end_s`, the last event), `activity.window_s()` apart; the last one
// may be shorter. Throws std::length_error when that is more than kMaxTimeseriesRows rows.
std::vector<TimeseriesRow> build_timeseries(const std::vector<RequestRecord>& records, const ActivityBins& activity,
                                            const FleetFacts& fleet, double end_s);

// Rows from time 0 to `last`, `w` apart (the last may be shorter), with only their start and end set. Throws
// std::length_error when that is more than kMaxTimeseriesRows rows.
std::vector<TimeseriesRow> timeseries_frame(double last, double w);

// The activity fields of row `i` of `n` (busy fraction, mean batch, KV use, served tokens, power) from the bins;
// activity recorded past the last row (none in a finished run) counts in the last row. For the builders of rows.
void fill_activity_fields(TimeseriesRow& row, const ActivityBins& activity, std::size_t i, std::size_t n,
                          const FleetFacts& fleet, double len);

// The CSV text, one row per window, with a header line; empty cells for NaN. Fixed formatting: the same rows
// give the same bytes.
// With replica_states ([autoscaler]): three more columns, replicas_serving, replicas_starting, replicas_draining.
std::string timeseries_csv(const std::vector<TimeseriesRow>& rows, bool replica_states = false);

// [autoscaler]: scaling.csv, one row per change of a replica's state (time_s, replica, event, and the fleet's
// serving, starting and draining replicas after it).
std::string scaling_csv(const std::vector<ScalingEvent>& events);

}  // namespace tf
