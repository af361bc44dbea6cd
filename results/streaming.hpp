#pragma once
// The outputs of a run built as its requests end, in memory that does not grow with the number of requests
// (issue 13, "flat memory"): a RecordSink (results/record_sink.hpp) that
// - writes requests.csv through an id-ordered window: a request's row is written once every lower id has been
//   (the window holds the requests in flight), the rows of requests still unfinished at the end last, as their
//   arrival records; into a temporary file renamed only by commit(), so that no half-written file looks complete;
// - feeds every record, in id order, to a SummaryBuilder (summary.json), WindowBuilders (the window figures sizing
//   reads) and a TimeseriesBuilder (timeseries.csv).
// Their figures are those of summarize, window_figures and build_timeseries over the same records (byte for byte in
// summary.json, requests.csv and timeseries.csv) while each latency has at most QuantileSketch::kExactSamples
// values; beyond that, percentiles within QuantileSketch::kRelativeError (results/quantiles.hpp).
// Every builder merges with another of its kind (counts add, sketches merge, time series sum): the builders of two
// halves of the requests, merged, give the figures of one pass over them all.
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "results/quantiles.hpp"
#include "results/record_sink.hpp"
#include "results/records.hpp"
#include "results/ring_buffer.hpp"
#include "results/summary.hpp"
#include "results/timeseries.hpp"
#include "results/window.hpp"

namespace tf {

// requests.csv's header line and one request's row (the bytes requests_csv writes).
// With `with_cached`, a column cached_tokens (prefix caching); with `with_retries` ([failures]), then a column
// retries: each only when its feature is on, so that the file is today's otherwise.
void append_requests_csv_header(std::string& out, bool with_priority, bool with_cached = false,
                                bool with_retries = false);
void append_requests_csv_row(std::string& out, const RequestRecord& r, bool with_priority, bool with_cached = false,
                             bool with_retries = false);

// summarize's figures from records handed in one at a time (any order gives the same counts and percentiles;
// id order gives summarize's bytes).
class SummaryBuilder {
 public:
  SummaryBuilder(double warmup_s, const SloTargets& slo, int priority_classes = 0);
  // A request's last record: final (served or rejected) or, at the end, unfinished.
  void add(const RequestRecord& r);
  void merge(const SummaryBuilder& other);
  Summary summary(const std::string& scenario, std::uint64_t seed, const RunTotals& totals) const;

 private:
  struct Latencies {
    QuantileSketch queue, ttft, tpot, e2e;
    std::size_t slo_hits = 0;
    void add(const RequestRecord& r, const SloTargets& slo);
    void merge(const Latencies& o);
  };
  struct Class {
    std::size_t measured = 0;
    Latencies served;
  };
  double warmup_s_;
  SloTargets slo_;
  int priority_classes_;
  std::size_t arrived_ = 0, measured_ = 0, rejected_ = 0, unfinished_ = 0, missed_ = 0;
  double output_tokens_ = 0.0, total_tokens_ = 0.0;
  Latencies served_;
  QuantileSketch kv_transfer_;
  std::vector<Class> classes_;
};

// window_figures over the requests that arrived in [start_s, end_s).
class WindowBuilder {
 public:
  WindowBuilder(double start_s, double end_s, const SloTargets& slo);
  void add(const RequestRecord& r);  // ignored unless it arrived in the window
  // No more records for this window (the stream has passed its end): its figures are kept and its sketches
  // compacted (a few kB); it still merges, its percentiles then within QuantileSketch::kRelativeError.
  void close();
  void merge(const WindowBuilder& other);
  WindowFigures figures() const;
  double start_s() const { return start_s_; }
  double end_s() const { return end_s_; }

 private:
  double start_s_, end_s_;
  SloTargets slo_;
  std::size_t requests_ = 0, unfinished_ = 0, never_ = 0, meeting_ = 0;
  double prompt_tokens_ = 0.0, output_tokens_ = 0.0;
  QuantileSketch ttft_, tpot_;
  std::optional<WindowFigures> closed_;
};

// build_timeseries's rows from records handed in id order (the per-window time averages are sums in that order).
// A window's TTFT/TPOT percentiles are taken when the stream has moved two windows past it and its values dropped,
// unless `keep_window_sketches` (kept for merge(), which both builders need for their windows).
class TimeseriesBuilder {
 public:
  explicit TimeseriesBuilder(double window_s, const SloTargets& slo, bool keep_window_sketches = false);
  // `last_s`: the run's last event, used for a request not finished (it is queued or running until then); such
  // requests come last, once the run has ended.
  void add(const RequestRecord& r, double last_s);
  void merge(const TimeseriesBuilder& other);
  // The rows of build_timeseries(records, activity, fleet, end_s) with `last_s` = last_event_s(records, end_s).
  // Throws std::length_error as build_timeseries does.
  std::vector<TimeseriesRow> rows(const ActivityBins& activity, const FleetFacts& fleet, double last_s) const;

 private:
  struct Bin {
    std::size_t arrivals = 0, completions = 0, meeting = 0;
    double queued_s = 0.0, running_s = 0.0, offered_tokens = 0.0;
  };
  struct Latency {  // of the requests that arrived in a window
    QuantileSketch ttft, tpot;
    bool closed = false;  // its figures taken, its sketches dropped
    double ttft_p50 = 0.0, ttft_p99 = 0.0, tpot_p50 = 0.0, tpot_p99 = 0.0;
  };
  Bin& bin(std::size_t i);
  Latency& latency(std::size_t i);
  static void close(Latency& l);
  double w_;
  SloTargets slo_;
  bool keep_;
  std::vector<Bin> bins_;
  std::vector<Latency> latency_;
  std::size_t open_from_ = 0;  // windows below it are closed
};

// requests.csv written as rows come, into "<path>.tmp-<pid>"; commit() renames it to `path`. Destroyed without
// commit (an error, an interrupt), the temporary file is removed. A write error is kept and thrown (WriteError) by
// commit().
class StreamedFile {
 public:
  explicit StreamedFile(std::string path);
  ~StreamedFile();
  StreamedFile(const StreamedFile&) = delete;
  StreamedFile& operator=(const StreamedFile&) = delete;
  std::string& buffer() { return buffer_; }
  void maybe_flush() {
    if (buffer_.size() >= kFlushBytes) flush();
  }
  void commit();
  std::uint64_t bytes() const { return bytes_ + buffer_.size(); }
  const std::string& path() const { return path_; }

 private:
  static constexpr std::size_t kFlushBytes = std::size_t{1} << 20;
  void flush();
  void fail(const char* what, int err);
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  std::string buffer_;
  std::uint64_t bytes_ = 0;
  std::string error_;
  bool committed_ = false;
};

struct StreamingOptions {
  double warmup_s = 0.0;
  SloTargets slo;
  int priority_classes = 0;       // summary's per-class figures (0 or 1: none)
  std::string requests_csv_path;  // empty: no requests.csv
  bool with_priority = false;     // requests.csv's priority column
  bool with_cached_tokens = false;  // requests.csv's cached_tokens column (prefix caching), after it
  bool with_retries = false;      // requests.csv's retries column ([failures])
  double timeseries_window_s = 0.0;  // > 0: build the time series
  std::vector<std::pair<double, double>> windows;  // window figures over these [start, end)
  // Requests are processed in id order, so a request that ended waits for every older one still running. Past
  // this many requests held in memory, the oldest half goes to an unlinked temporary file (in $TMPDIR, or /tmp)
  // and comes back, in order, once the requests it still waits for have ended; the outputs are the same bytes.
  // 0: never (everything held in memory).
  std::size_t spill_after = (std::size_t{1} << 18) - 1;
};

class StreamingSink final : public RecordSink {
 public:
  explicit StreamingSink(const StreamingOptions& options);
  ~StreamingSink() override;
  StreamingSink(const StreamingSink&) = delete;
  StreamingSink& operator=(const StreamingSink&) = delete;
  void arrived(const RequestRecord& r) override;
  void ended(const RequestRecord& r) override;
  // The run has ended at `end_s` (its last event): the requests still in the window (unfinished) are written and
  // counted. Call once, before the accessors below.
  void finish(double end_s);
  // Renames requests.csv into place (throws WriteError).
  void commit_requests_csv();

  std::size_t arrived_count() const { return arrived_; }
  double last_event_s() const { return last_s_; }
  const SummaryBuilder& summary() const { return summary_; }
  const std::vector<WindowBuilder>& windows() const { return windows_; }
  const TimeseriesBuilder* timeseries() const { return timeseries_ ? &*timeseries_ : nullptr; }
  // The sums fleet_facts needs (mean lengths of all requests).
  double prompt_tokens() const { return prompt_tokens_; }
  double output_tokens() const { return output_tokens_; }
  // Most requests held at once (ended ones waiting for an older one, and those in flight), in memory or spilled
  // (a spilled segment comes back once all its requests have ended, so spilling holds a few more).
  std::size_t max_window() const { return max_window_; }
  std::uint64_t spilled_requests() const { return spilled_; }  // requests that went through the spill file
  std::uint64_t spill_file_bytes() const { return static_cast<std::uint64_t>(max_spill_end_); }  // its largest size
  std::uint64_t requests_csv_bytes() const { return file_ ? file_->bytes() : 0; }

 private:
  // A request's record as the window holds it, in one cache line (its id is its place; the window of a large
  // fleet holds hundreds of thousands, written in an order far from the one they are read in). A record whose
  // numbers do not fit these widths (a prompt of 2^31 tokens or more, a priority class over 32,767, more than 255
  // retries) is kept whole in wide_, by id, and its slot says so: what comes out is always the record that went in.
  struct alignas(64) Slot {
    double arrival_s = 0.0, admitted_s = 0.0, first_token_s = 0.0, finished_s = 0.0, kv_transfer_s = 0.0;
    std::int32_t prompt_tokens = 0, output_tokens = 0, replica = 0, prefill_replica = 0, cached_tokens = 0;
    std::int16_t priority = 0;
    std::uint8_t retries = 0;
    std::uint8_t flags = 0;  // kEnded, kRejected, kFailed, kWide
    static constexpr std::uint8_t kEnded = 1, kRejected = 2, kFailed = 4, kWide = 8;
    bool ended() const { return (flags & kEnded) != 0; }
  };
  static_assert(sizeof(Slot) == 64);
  Slot pack(const RequestRecord& r, bool ended);
  static void store(Slot& to, const Slot& from);
  RequestRecord unpack(const Slot& slot, std::uint64_t id);  // (a wide record leaves wide_)
  // A run of ids [first_id, first_id + count) written to the spill file at `offset`; `open` of them had not ended.
  struct Segment {
    std::uint64_t first_id = 0, count = 0;
    long offset = 0, frame = 0;  // where in the file, and the bytes of the place it took there (at least its own)
    std::size_t open = 0;
  };
  struct Hole {  // a spilled request that had not ended: its latest record, and its segment's number
    Slot slot;
    std::uint64_t segment = 0;
  };
  void process(const RequestRecord& r);
  void spill();
  void drain(bool all);
  void pop_ended_front();
  StreamingOptions o_;
  RingBuffer<Slot> window_;     // ids [base_id_, base_id_ + size) in memory
  std::uint64_t base_id_ = 0;
  std::deque<Segment> segments_;  // spilled, older than window_; segments_[0] has number segment_base_
  std::uint64_t segment_base_ = 0;
  std::unordered_map<std::uint64_t, Hole> holes_;
  std::unordered_map<std::uint64_t, RequestRecord> wide_;
  std::FILE* spill_file_ = nullptr;
  long spill_end_ = 0, max_spill_end_ = 0;
  // Places in the spill file that segments read back have freed (offset, bytes), the latest last: a new segment
  // takes the latest one that holds it (its pages most likely still in the page cache), so that the file stays as
  // large as the most held at once, instead of growing with every segment while one is still out.
  std::vector<std::pair<long, long>> free_frames_;
  std::uint64_t spilled_ = 0, held_on_disk_ = 0;
  std::size_t arrived_ = 0, max_window_ = 0;
  double last_s_ = 0.0;
  double prompt_tokens_ = 0.0, output_tokens_ = 0.0;
  bool finished_ = false;
  std::unique_ptr<StreamedFile> file_;
  SummaryBuilder summary_;
  std::vector<WindowBuilder> windows_;
  std::size_t windows_open_from_ = 0;
  std::optional<TimeseriesBuilder> timeseries_;
};

}  // namespace tf
