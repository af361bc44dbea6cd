#pragma once
// Workload sources: where the engine's source actor pulls requests from, in arrival order.
//
//   synthetic: an arrival process (poisson, gamma, diurnal; spikes, bursts) x token-length distributions;
//   sessions:  closed loop: visits arrive by the arrival process; each visit asks several questions, the next one
//              a think time after the previous answer finished (the engine reports completions);
//   trace:     replay of a trace file (azure, mooncake, plain csv), streamed, with speed, rate scale, loop, window.
//
// Every random draw comes from streams of the scenario seed; the stream numbers are fixed forever.
#include <csignal>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "workloads/arrival.hpp"
#include "workloads/distribution.hpp"
#include "workloads/request.hpp"

namespace tf {

struct SessionSpec {
  bool enabled = false;
  DistributionSpec questions;     // questions per visit (>= 1); default fixed 5
  DistributionSpec think_time_s;  // seconds from an answer's end to the next question; default exponential, mean 30
  bool carry_context = true;      // each prompt carries the conversation so far, capped by the context window
  SessionSpec() {
    questions.dist = "fixed";
    questions.value = 5;
    think_time_s.dist = "exponential";
    think_time_s.mean = 30;
    think_time_s.min = 0;
  }
};

struct TraceSpec {
  bool enabled = false;
  std::string path;
  std::string format;                 // azure | mooncake | csv | "" (from the file)
  double speed = 1.0;                 // time runs this many times faster than in the trace
  double rate_scale = 1.0;            // < 1: keep each row with this probability; > 1: replicate rows
  double jitter_s = 1.0;              // replicated copies arrive uniformly within this long after their row
  bool loop = false;                  // start again at the end, shifted by the trace's span plus one mean gap
  double window_start_s = 0.0;        // only rows with time in [window_start_s, window_end_s) (trace time);
  double window_end_s = std::numeric_limits<double>::infinity();  // window_start_s becomes time 0
  bool skip_bad_rows = false;
  // Lengths longer than these are cut to them (0: as recorded); each row cut is counted (clamped_rows).
  std::int64_t max_prompt_tokens = 0;
  std::int64_t max_output_tokens = 0;
};

// A request whose prompt and answer together exceed the model's context window (workload.over_context):
//   cut:    the prompt is shortened so that prompt + answer fill the window exactly (an answer as long as the window
//           or longer is cut to the window less one token, with a prompt of one token); counted;
//   refuse: the run stops with an error naming the request (OverContextError; exit code 2);
//   drop:   the request arrives and is turned away at once, as a server answers one longer than its context (an SLO
//           miss, a rejected row of requests.csv); counted.
enum class OverContext { cut, refuse, drop };
// "cut", "refuse", "drop"; nothing for anything else.
std::optional<OverContext> parse_over_context(const std::string& s);
std::string to_string(OverContext o);

// Whether prompt + answer exceed `window` tokens (0: no window).
inline bool over_context(const Request& r, std::int64_t window) {
  return window > 0 && (r.output_tokens > window || r.prompt_tokens > window - r.output_tokens);
}
// workload.over_context = "cut": shortens the request to the window as described above (a Mooncake trace's hash_ids
// keep the share of blocks that the prompt keeps); false when it fitted and is left as it is.
bool cut_to_context(Request& r, std::int64_t window);

// Why a run with workload.over_context = "refuse" stops at `r` (`trace_path`: the trace it came from, or empty).
std::string over_context_refusal(const Request& r, std::int64_t window, const std::string& trace_path);

// A request beyond the context window with workload.over_context = "refuse" (a wrong input: exit code 2).
class OverContextError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where an open-loop synthetic workload's arrivals stand at given times (ArrivalCheckpoints::build), so that a run
// from start_s resumes at the latest point at or before it instead of drawing every arrival before it: the arrivals
// up to a late hour of a 50 M-request day take seconds to draw, and `size --per-hour` starts ~100 hour probes there.
// The requests are the same, bit for bit, with or without them.
struct ArrivalCheckpoint {
  double time_s = 0.0;          // the state once every arrival before time_s is drawn
  std::uint64_t drawn = 0;      // how many arrivals that is
  double now_s = 0.0;           // the source's clock: the next arrival, planned
  bool planned = false;
  std::shared_ptr<const ArrivalProcess> process;  // its state then (cloned to resume)
  Rng rng;                                        // the arrival stream then
};

struct WorkloadSpec;

struct ArrivalCheckpoints {
  ArrivalSpec arrival;  // what they were drawn for: a source uses them only for this arrival spec,
  std::uint64_t seed = 0;  // this seed
  double duration_s = 0.0;  // and a duration no longer than this
  std::vector<ArrivalCheckpoint> points;  // in time order
  // The points at `times` of the open-loop synthetic workload `spec` (seed, duration_s), drawn in one pass over its
  // arrivals (nothing else); null for sessions or a trace (they are not resumed: taken and dropped as before).
  // A nonzero *interrupt (Ctrl-C) stops the pass: null then too.
  static std::shared_ptr<const ArrivalCheckpoints> build(const WorkloadSpec& spec, std::uint64_t seed, double duration_s,
                                                         std::vector<double> times,
                                                         const volatile std::sig_atomic_t* interrupt = nullptr);
};

struct WorkloadSpec {
  ArrivalSpec arrival;
  DistributionSpec prompt_tokens;
  DistributionSpec output_tokens;
  SessionSpec session;
  TraceSpec trace;
  // The model's context window: a prompt plus its answer never exceed it (sessions cap the conversation they carry;
  // every request beyond it is handled by over_context). 0: no window.
  std::int64_t context_window = 0;
  OverContext over_context = OverContext::cut;
  // Priority classes (for the priority queue order): request i is of class c with probability priority_shares[c]
  // (they sum to 1), drawn from a stream of its own; empty: every request is of class 0.
  std::vector<double> priority_shares;
  // Only the requests arriving at or after this time (the scenario key start_s; `size --per-hour`'s hour probes):
  // the whole workload's requests from start_s on, the same ones the full run has (make_workload_source), ids from 0.
  // 0: all of them.
  double start_s = 0.0;
  // Arrival checkpoints a run from start_s may resume from (ArrivalCheckpoints; one set per seed); none: drawn.
  std::vector<std::shared_ptr<const ArrivalCheckpoints>> checkpoints;
  // A system prompt of this many tokens begins every prompt (added to the prompt lengths drawn or read; with
  // sessions that carry the conversation, once at its start), the same for every request: prefix caching shares its
  // blocks. Not with a trace's hash_ids. 0: none.
  std::int64_t system_prompt_tokens = 0;
};

class WorkloadSource {
 public:
  virtual ~WorkloadSource() = default;
  // The time of the next request planned so far; +infinity when none is planned now (a closed-loop source may
  // plan more when an answer finishes) or the workload is over.
  virtual double next_arrival_s() = 0;
  // Takes the planned request (only when next_arrival_s() is finite); ids are 0, 1, 2, ... in arrival order.
  virtual Request take() = 0;
  // Takes the planned request for this simulation; nothing when it is not this simulation's to serve (a pod's share
  // of a closed-loop workload, workloads/pod_split.hpp: the source was told it is answered). By default take().
  virtual std::optional<Request> take_for_this_run() { return take(); }
  // Closed loop: the source wants on_finished() for every request.
  virtual bool closed_loop() const { return false; }
  virtual void on_finished(std::uint64_t /*id*/, double /*time_s*/) {}
  // Nothing planned, and nothing can be planned any more.
  virtual bool exhausted() = 0;
  // Trace rows skipped as bad (skip_bad_rows = true).
  virtual std::uint64_t skipped_bad_rows() const { return 0; }
  // Trace replay: rows whose lengths were cut to workload.trace.max_prompt_tokens / max_output_tokens.
  virtual std::uint64_t clamped_rows() const { return 0; }
  // Sessions: questions never asked because their visit was cut at duration_s (the arrival period ends).
  virtual std::uint64_t questions_cut() const { return 0; }
  // The errors of the first bad trace rows skipped (TraceReader::bad_row_examples).
  virtual std::vector<std::string> bad_row_examples() const { return {}; }
  // Requests beyond the context window (workload.over_context): cut to it, or marked to be turned away
  // (Request::over_context; "drop").
  virtual std::uint64_t over_context_cut() const { return 0; }
  virtual std::uint64_t over_context_dropped() const { return 0; }

  // Moves past every request arriving before t, as if each were taken (and, in a closed loop, answered the moment
  // it was asked), and returns how many: every later request is the one take() would then have given, stream for
  // stream. By default, take() and drop; an open-loop source may skip without building the requests.
  virtual std::uint64_t skip_before(double t) {
    std::uint64_t n = 0;
    while (next_arrival_s() < t) {
      const Request r = take();
      ++n;
      if (closed_loop()) on_finished(r.id, r.arrival_s);
    }
    return n;
  }

  // Open loop convenience: the next request, or nothing when the workload is over.
  std::optional<Request> next() {
    if (next_arrival_s() == std::numeric_limits<double>::infinity()) return std::nullopt;
    return take();
  }
};

// Requests arrive in [0, duration_s). Throws std::invalid_argument (a bad spec) or TraceError (a bad trace).
std::unique_ptr<WorkloadSource> make_workload_source(const WorkloadSpec& spec, std::uint64_t seed, double duration_s);

// When the last row of a trace (inside its window) is replayed, in seconds after the replay starts (window start
// and speed applied): how long a run must last to replay it all. Reads the whole file; 0 for a trace without rows in
// the window. Throws TraceError on a bad row (unless spec.skip_bad_rows).
double trace_span_s(const TraceSpec& spec);

// Pulls every request of a source, in order, without a simulation: a closed-loop source is told that each answer
// finishes `service_s` after its request arrived. Calls fn(request) for each.
template <class Fn>
void drain_source(WorkloadSource& source, double service_s, Fn&& fn) {
  for (;;) {
    // Every request is reported finished right after it is taken, so nothing planned means the workload is over.
    if (source.next_arrival_s() == std::numeric_limits<double>::infinity()) return;
    Request r = source.take();
    fn(static_cast<const Request&>(r));
    if (source.closed_loop()) source.on_finished(r.id, r.arrival_s + service_s);
  }
}

}  // namespace tf
