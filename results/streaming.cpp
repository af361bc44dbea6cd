#include "results/streaming.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <cstdlib>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "io/csv.hpp"

namespace tf {

namespace {

double safe_div(double num, double den) { return den > 0.0 ? num / den : 0.0; }

constexpr double kNeverS = 1e300;  // window_figures' latency of a request never served
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The bins a series of windows of `w` may need: kMaxTimeseriesRows and one more (a run that needs more is refused
// before anything is written; time beyond the last counts in it).
constexpr std::size_t kMaxBins = static_cast<std::size_t>(kMaxTimeseriesRows) + 1;

std::size_t stream_bin(double t, double w) {
  if (!(t > 0.0)) return 0;
  const double b = std::floor(t / w);
  return b >= static_cast<double>(kMaxBins - 1) ? kMaxBins - 1 : static_cast<std::size_t>(b);
}

// build_timeseries's spread over bins 0 .. kMaxBins - 1.
template <class F>
void spread(double a, double b, double w, F&& f) {
  const std::size_t n = kMaxBins;
  if (!(b > a)) return;
  auto first = static_cast<std::size_t>(std::min(std::max(0.0, std::floor(a / w)), static_cast<double>(n - 1)));
  for (std::size_t i = first; i < n; ++i) {
    const double lo = std::max(a, static_cast<double>(i) * w);
    const double hi = i + 1 == n ? b : std::min(b, static_cast<double>(i + 1) * w);
    if (hi > lo) f(i, hi - lo);
    if (hi >= b) break;
  }
}

}  // namespace

// ---- requests.csv -----------------------------------------------------------------------------------------------

void append_requests_csv_header(std::string& out, bool with_priority, bool with_cached, bool with_retries) {
  CsvWriter w(out);
  for (const char* name : {"id", "arrival_s", "prompt_tokens", "output_tokens", "replica", "queue_s", "ttft_s",
                           "tpot_s", "e2e_s", "rejected", "prefill_replica", "kv_transfer_s"})
    w.field(name);
  if (with_priority) w.field("priority");
  if (with_cached) w.field("cached_tokens");
  if (with_retries) w.field("retries");
  w.end_row();
}

void append_requests_csv_row(std::string& out, const RequestRecord& r, bool with_priority, bool with_cached,
                             bool with_retries) {
  CsvWriter w(out);
  auto time = [&w](bool known, double t) { known ? w.fixed9(t) : w.empty(); };
  const bool done = r.finished();
  w.integer(r.id).fixed9(r.arrival_s).integer(r.prompt_tokens).integer(r.output_tokens);
  w.integer(r.replica);
  time(r.admitted_s >= 0.0, r.queue_s());
  time(done, r.ttft_s());
  time(done, r.tpot_s());
  time(done, r.e2e_s());
  w.integer(r.rejected ? 1 : 0);
  r.prefill_replica >= 0 ? w.integer(r.prefill_replica) : w.empty();
  time(r.kv_transfer_s >= 0.0, r.kv_transfer_s);
  if (with_priority) w.integer(r.priority);
  if (with_cached) w.integer(r.cached_tokens);
  if (with_retries) w.integer(r.retries);
  w.end_row();
}

// ---- summary ----------------------------------------------------------------------------------------------------

void SummaryBuilder::Latencies::add(const RequestRecord& r, const SloTargets& slo) {
  queue.add(r.queue_s());
  ttft.add(r.ttft_s());
  e2e.add(r.e2e_s());
  if (r.output_tokens > 1) tpot.add(r.tpot_s());
  if (meets_slo(r, slo)) ++slo_hits;
}

void SummaryBuilder::Latencies::merge(const Latencies& o) {
  queue.merge(o.queue);
  ttft.merge(o.ttft);
  tpot.merge(o.tpot);
  e2e.merge(o.e2e);
  slo_hits += o.slo_hits;
}

SummaryBuilder::SummaryBuilder(double warmup_s, const SloTargets& slo, int priority_classes)
    : warmup_s_(warmup_s), slo_(slo), priority_classes_(priority_classes) {
  if (priority_classes_ > 1) classes_.resize(static_cast<std::size_t>(priority_classes_));
}

void SummaryBuilder::add(const RequestRecord& r) {
  ++arrived_;
  if (r.rejected) ++rejected_;
  else if (!r.finished()) ++unfinished_;
  if (r.arrival_s < warmup_s_) return;
  ++measured_;
  output_tokens_ += static_cast<double>(r.output_tokens);
  total_tokens_ += static_cast<double>(r.prompt_tokens + r.output_tokens);
  if (priority_classes_ > 1 && r.priority >= 0 && r.priority < priority_classes_) {
    Class& c = classes_[static_cast<std::size_t>(r.priority)];
    ++c.measured;
    if (r.finished()) c.served.add(r, slo_);
  }
  if (!r.finished()) {
    ++missed_;
    return;
  }
  if (r.kv_transfer_s >= 0.0) kv_transfer_.add(r.kv_transfer_s);
  served_.add(r, slo_);
}

void SummaryBuilder::merge(const SummaryBuilder& o) {
  arrived_ += o.arrived_;
  measured_ += o.measured_;
  rejected_ += o.rejected_;
  unfinished_ += o.unfinished_;
  missed_ += o.missed_;
  output_tokens_ += o.output_tokens_;
  total_tokens_ += o.total_tokens_;
  served_.merge(o.served_);
  kv_transfer_.merge(o.kv_transfer_);
  if (classes_.size() < o.classes_.size()) classes_.resize(o.classes_.size());
  for (std::size_t c = 0; c < o.classes_.size(); ++c) {
    classes_[c].measured += o.classes_[c].measured;
    classes_[c].served.merge(o.classes_[c].served);
  }
  priority_classes_ = std::max(priority_classes_, o.priority_classes_);
}

Summary SummaryBuilder::summary(const std::string& scenario, std::uint64_t seed, const RunTotals& totals) const {
  Summary s;
  s.scenario = scenario;
  s.seed = seed;
  s.slo = slo_;
  s.totals = totals;
  s.requests_arrived = arrived_;
  s.requests_measured = measured_;
  s.requests_rejected = rejected_;
  s.requests_unfinished = unfinished_;
  s.window_s = totals.window_s;
  const double ttft_p99_judged = served_.ttft.percentile(99.0, missed_, kNeverS);
  const double tpot_p99_judged = served_.tpot.percentile(99.0, missed_, kNeverS);
  s.queue = served_.queue.stats();
  s.ttft = served_.ttft.stats();
  s.tpot = served_.tpot.stats();
  s.e2e = served_.e2e.stats();
  s.kv_transfer = kv_transfer_.stats();

  fill_summary_figures(s, totals, slo_, output_tokens_, total_tokens_, served_.slo_hits, ttft_p99_judged, tpot_p99_judged);
  for (std::size_t c = 0; c < classes_.size(); ++c) {
    Summary::PriorityClass pc;
    pc.priority = static_cast<int>(c);
    pc.measured = classes_[c].measured;
    pc.queue = classes_[c].served.queue.stats();
    pc.ttft = classes_[c].served.ttft.stats();
    pc.tpot = classes_[c].served.tpot.stats();
    pc.e2e = classes_[c].served.e2e.stats();
    pc.slo_attainment = safe_div(static_cast<double>(classes_[c].served.slo_hits), static_cast<double>(pc.measured));
    s.priority_classes.push_back(std::move(pc));
  }
  return s;
}

// ---- window figures ---------------------------------------------------------------------------------------------

WindowBuilder::WindowBuilder(double start_s, double end_s, const SloTargets& slo)
    : start_s_(start_s), end_s_(end_s), slo_(slo) {}

void WindowBuilder::add(const RequestRecord& r) {
  if (r.arrival_s < start_s_ || r.arrival_s >= end_s_) return;
  closed_.reset();
  ++requests_;
  prompt_tokens_ += static_cast<double>(r.prompt_tokens);
  output_tokens_ += static_cast<double>(r.output_tokens);
  if (!r.finished()) {
    if (!r.rejected) ++unfinished_;
    ++never_;  // its TTFT and TPOT: beyond any target
    return;
  }
  ttft_.add(r.ttft_s());
  if (r.output_tokens > 1) tpot_.add(r.tpot_s());
  if (meets_slo(r, slo_)) ++meeting_;
}

void WindowBuilder::close() {
  if (closed_) return;
  closed_ = figures();
  ttft_.compact();
  tpot_.compact();
}

void WindowBuilder::merge(const WindowBuilder& o) {
  closed_.reset();
  requests_ += o.requests_;
  unfinished_ += o.unfinished_;
  never_ += o.never_;
  meeting_ += o.meeting_;
  prompt_tokens_ += o.prompt_tokens_;
  output_tokens_ += o.output_tokens_;
  ttft_.merge(o.ttft_);
  tpot_.merge(o.tpot_);
}

WindowFigures WindowBuilder::figures() const {
  if (closed_) return *closed_;
  WindowFigures w;
  w.start_s = start_s_;
  w.end_s = end_s_;
  w.requests = requests_;
  w.unfinished = unfinished_;
  w.prompt_tokens = prompt_tokens_;
  w.output_tokens = output_tokens_;
  if (w.requests == 0) return w;
  w.ttft_p99_s = ttft_.percentile(99.0, never_, kNeverS);
  w.tpot_p99_s = tpot_.count() + never_ == 0 ? 0.0 : tpot_.percentile(99.0, never_, kNeverS);
  w.attainment = static_cast<double>(meeting_) / static_cast<double>(w.requests);
  w.ttft_met = slo_.ttft_p99_s <= 0.0 || w.ttft_p99_s <= slo_.ttft_p99_s;
  w.tpot_met = slo_.tpot_p99_s <= 0.0 || w.tpot_p99_s <= slo_.tpot_p99_s;
  w.met = w.ttft_met && w.tpot_met;
  return w;
}

// ---- time series ------------------------------------------------------------------------------------------------

TimeseriesBuilder::TimeseriesBuilder(double window_s, const SloTargets& slo, bool keep_window_sketches)
    : w_(window_s > 0.0 ? window_s : 60.0), slo_(slo), keep_(keep_window_sketches) {}

TimeseriesBuilder::Bin& TimeseriesBuilder::bin(std::size_t i) {
  if (bins_.size() <= i) bins_.resize(i + 1);
  return bins_[i];
}

TimeseriesBuilder::Latency& TimeseriesBuilder::latency(std::size_t i) {
  if (latency_.size() <= i) latency_.resize(i + 1);
  // Requests come in arrival order: a window two behind this one will get no more (one behind may still, when
  // it turns out to be the last row, which takes the arrivals at its very end).
  if (!keep_)
    for (; open_from_ + 2 <= i; ++open_from_) close(latency_[open_from_]);
  return latency_[i];
}

void TimeseriesBuilder::close(Latency& l) {
  if (l.closed) return;
  auto p = [](const QuantileSketch& q, double pct) { return q.count() == 0 ? kNaN : q.percentile(pct); };
  l.ttft_p50 = p(l.ttft, 50.0);
  l.ttft_p99 = p(l.ttft, 99.0);
  l.tpot_p50 = p(l.tpot, 50.0);
  l.tpot_p99 = p(l.tpot, 99.0);
  l.ttft = QuantileSketch();
  l.tpot = QuantileSketch();
  l.closed = true;
}

void TimeseriesBuilder::add(const RequestRecord& r, double last_s) {
  const std::size_t a = stream_bin(r.arrival_s, w_);
  Bin& arrival = bin(a);
  ++arrival.arrivals;
  arrival.offered_tokens += static_cast<double>(r.prompt_tokens + r.output_tokens);
  const double admitted = r.admitted_s >= 0.0 ? r.admitted_s : last_s;
  if (!r.rejected) spread(r.arrival_s, admitted, w_, [&](std::size_t i, double dt) { bin(i).queued_s += dt; });
  if (r.admitted_s >= 0.0) {
    const double finished = r.finished() ? r.finished_s : last_s;
    spread(r.admitted_s, finished, w_, [&](std::size_t i, double dt) { bin(i).running_s += dt; });
  }
  if (!r.finished()) return;
  ++bin(stream_bin(r.finished_s, w_)).completions;
  Latency& l = latency(a);
  l.ttft.add(r.ttft_s());
  if (r.output_tokens > 1) l.tpot.add(r.tpot_s());
  if (meets_slo(r, slo_)) ++bin(a).meeting;
}

void TimeseriesBuilder::merge(const TimeseriesBuilder& o) {
  if (!keep_ || !o.keep_)
    throw std::logic_error("TimeseriesBuilder::merge needs both builders made with keep_window_sketches");
  if (bins_.size() < o.bins_.size()) bins_.resize(o.bins_.size());
  for (std::size_t i = 0; i < o.bins_.size(); ++i) {
    Bin& b = bins_[i];
    const Bin& x = o.bins_[i];
    b.arrivals += x.arrivals;
    b.completions += x.completions;
    b.meeting += x.meeting;
    b.queued_s += x.queued_s;
    b.running_s += x.running_s;
    b.offered_tokens += x.offered_tokens;
  }
  if (latency_.size() < o.latency_.size()) latency_.resize(o.latency_.size());
  for (std::size_t i = 0; i < o.latency_.size(); ++i) {
    latency_[i].ttft.merge(o.latency_[i].ttft);
    latency_[i].tpot.merge(o.latency_[i].tpot);
  }
}

std::vector<TimeseriesRow> TimeseriesBuilder::rows(const ActivityBins& activity, const FleetFacts& fleet,
                                                   double last) const {
  const double w = w_;
  std::vector<TimeseriesRow> rows = timeseries_frame(last, w);
  const std::size_t n = rows.size();
  // Bins beyond the last row (an event exactly at its end) count in it.
  std::vector<Bin> bins(n);
  for (std::size_t i = 0; i < bins_.size(); ++i) {
    Bin& b = bins[std::min(i, n - 1)];
    const Bin& x = bins_[i];
    if (i < n) {
      b = x;
      continue;
    }
    b.arrivals += x.arrivals;
    b.completions += x.completions;
    b.meeting += x.meeting;
    b.queued_s += x.queued_s;
    b.running_s += x.running_s;
    b.offered_tokens += x.offered_tokens;
  }
  // The last row's latencies: its window's and any later one's.
  std::vector<const Latency*> lat(n, nullptr);
  for (std::size_t i = 0; i < std::min(n, latency_.size()); ++i) lat[i] = &latency_[i];
  Latency tail;
  if (latency_.size() > n) {
    tail = latency_[n - 1];
    for (std::size_t i = n; i < latency_.size(); ++i) {
      tail.ttft.merge(latency_[i].ttft);
      tail.tpot.merge(latency_[i].tpot);
    }
    lat[n - 1] = &tail;
  }
  auto length = [&](std::size_t i) { return std::max(rows[i].end_s - rows[i].start_s, 1e-12); };
  for (std::size_t i = 0; i < n; ++i) {
    TimeseriesRow& row = rows[i];
    const double len = length(i);
    row.arrivals = bins[i].arrivals;
    row.completions = bins[i].completions;
    row.queued_mean = bins[i].queued_s / len;
    row.running_mean = bins[i].running_s / len;
    if (lat[i] && lat[i]->closed) {
      row.ttft_p50_s = lat[i]->ttft_p50;
      row.ttft_p99_s = lat[i]->ttft_p99;
      row.tpot_p50_s = lat[i]->tpot_p50;
      row.tpot_p99_s = lat[i]->tpot_p99;
    } else if (lat[i]) {
      const auto& l = *lat[i];
      row.ttft_p50_s = l.ttft.count() == 0 ? kNaN : l.ttft.percentile(50.0);
      row.ttft_p99_s = l.ttft.count() == 0 ? kNaN : l.ttft.percentile(99.0);
      row.tpot_p50_s = l.tpot.count() == 0 ? kNaN : l.tpot.percentile(50.0);
      row.tpot_p99_s = l.tpot.count() == 0 ? kNaN : l.tpot.percentile(99.0);
    } else {
      row.ttft_p50_s = row.ttft_p99_s = row.tpot_p50_s = row.tpot_p99_s = kNaN;
    }
    row.slo_attainment =
        row.arrivals == 0 ? kNaN : static_cast<double>(bins[i].meeting) / static_cast<double>(row.arrivals);
    row.offered_tokens_per_s = bins[i].offered_tokens / len;
    row.capacity_tokens_per_s = fleet.capacity_tokens_per_s;
    fill_activity_fields(row, activity, i, n, fleet, len);
  }
  return rows;
}

// ---- the file ---------------------------------------------------------------------------------------------------

StreamedFile::StreamedFile(std::string path)
    : path_(std::move(path)), tmp_(path_ + ".tmp-" + std::to_string(static_cast<long>(::getpid()))) {
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) fail("open", errno);
  buffer_.reserve(kFlushBytes + 4096);
}

StreamedFile::~StreamedFile() {
  if (f_) std::fclose(f_);
  if (!committed_) std::remove(tmp_.c_str());
}

void StreamedFile::fail(const char* what, int err) {
  if (error_.empty()) error_ = fmt::format("cannot write {}: {}: {}", path_, what, std::strerror(err));
}

void StreamedFile::flush() {
  if (f_ && error_.empty() && !buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), f_) != buffer_.size())
    fail("write", errno);
  bytes_ += buffer_.size();
  buffer_.clear();
}

void StreamedFile::commit() {
  flush();
  if (f_ && error_.empty() && (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0)) fail("flush", errno);
  if (f_ && std::fclose(f_) != 0) fail("close", errno);
  f_ = nullptr;
  if (!error_.empty()) throw WriteError(error_);
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    fail("rename", errno);
    throw WriteError(error_);
  }
  committed_ = true;
}

// ---- the sink ---------------------------------------------------------------------------------------------------

StreamingSink::StreamingSink(const StreamingOptions& options)
    : o_(options), summary_(options.warmup_s, options.slo, options.priority_classes) {
  if (!o_.requests_csv_path.empty()) {
    file_ = std::make_unique<StreamedFile>(o_.requests_csv_path);
    append_requests_csv_header(file_->buffer(), o_.with_priority, o_.with_cached_tokens, o_.with_retries);
  }
  for (const auto& [start, end] : o_.windows) windows_.emplace_back(start, end, o_.slo);
  if (o_.timeseries_window_s > 0.0) timeseries_.emplace(o_.timeseries_window_s, o_.slo);
}

StreamingSink::~StreamingSink() {
  if (spill_file_) std::fclose(spill_file_);
}

static_assert(sizeof(RequestRecord) == 104, "a field added to RequestRecord: add it to StreamingSink::Slot");

StreamingSink::Slot StreamingSink::pack(const RequestRecord& r, bool ended) {
  Slot s;
  s.arrival_s = r.arrival_s;
  s.admitted_s = r.admitted_s;
  s.first_token_s = r.first_token_s;
  s.finished_s = r.finished_s;
  s.kv_transfer_s = r.kv_transfer_s;
  s.prompt_tokens = static_cast<std::int32_t>(r.prompt_tokens);
  s.output_tokens = static_cast<std::int32_t>(r.output_tokens);
  s.replica = r.replica;
  s.prefill_replica = r.prefill_replica;
  s.cached_tokens = static_cast<std::int32_t>(r.cached_tokens);
  s.priority = static_cast<std::int16_t>(r.priority);
  s.retries = static_cast<std::uint8_t>(r.retries);
  s.flags = static_cast<std::uint8_t>((ended ? Slot::kEnded : 0) | (r.rejected ? Slot::kRejected : 0) |
                                      (r.failed ? Slot::kFailed : 0));
  const bool fits = s.prompt_tokens == r.prompt_tokens && s.output_tokens == r.output_tokens &&
                    s.cached_tokens == r.cached_tokens && s.priority == r.priority && s.retries == r.retries;
  if (!fits) {
    s.flags |= Slot::kWide;
    wide_[r.id] = r;
  } else if (!wide_.empty()) {
    wide_.erase(r.id);
  }
  return s;
}

RequestRecord StreamingSink::unpack(const Slot& s, std::uint64_t id) {
  if (s.flags & Slot::kWide) {
    const auto it = wide_.find(id);
    if (it == wide_.end()) throw std::logic_error(fmt::format("StreamingSink: the record of request {} lost", id));
    RequestRecord r = it->second;
    wide_.erase(it);
    return r;
  }
  RequestRecord r;
  r.id = id;
  r.arrival_s = s.arrival_s;
  r.prompt_tokens = s.prompt_tokens;
  r.output_tokens = s.output_tokens;
  r.replica = s.replica;
  r.admitted_s = s.admitted_s;
  r.first_token_s = s.first_token_s;
  r.finished_s = s.finished_s;
  r.rejected = (s.flags & Slot::kRejected) != 0;
  r.prefill_replica = s.prefill_replica;
  r.kv_transfer_s = s.kv_transfer_s;
  r.priority = s.priority;
  r.cached_tokens = s.cached_tokens;
  r.retries = s.retries;
  r.failed = (s.flags & Slot::kFailed) != 0;
  return r;
}

// A slot is written whole (one cache line) with non-temporal stores: its line is neither read first nor kept in
// cache. It is read again only once every older request has ended, seconds later on a large fleet, when it would have
// left the cache anyway; kept, the window's lines would push out the replicas' state, which is read again soon.
void StreamingSink::store(Slot& to, const Slot& from) {
#if defined(__SSE2__)
  static_assert(alignof(Slot) == 64 && sizeof(Slot) == 64);
  const auto* src = reinterpret_cast<const __m128i*>(&from);
  auto* dst = reinterpret_cast<__m128i*>(&to);
  for (int i = 0; i < 4; ++i) _mm_stream_si128(dst + i, _mm_load_si128(src + i));
#else
  to = from;
#endif
}

void StreamingSink::arrived(const RequestRecord& r) {
  if (r.id != base_id_ + window_.size())
    throw std::logic_error(fmt::format("StreamingSink: request {} arrived, expected {}", r.id,
                                       base_id_ + window_.size()));
  store(window_.push_back_slot(), pack(r, false));
  max_window_ = std::max(max_window_, window_.size() + static_cast<std::size_t>(held_on_disk_));
  ++arrived_;
  last_s_ = std::max(last_s_, r.arrival_s);
  prompt_tokens_ += static_cast<double>(r.prompt_tokens);
  output_tokens_ += static_cast<double>(r.output_tokens);
  if (o_.spill_after > 0 && window_.size() > o_.spill_after) spill();
}

void StreamingSink::ended(const RequestRecord& r) {
  last_s_ = std::max(last_s_, r.finished_s);
  if (r.id >= base_id_) {
    if (r.id >= base_id_ + window_.size())
      throw std::logic_error(fmt::format("StreamingSink: request {} ended, not in flight", r.id));
    if (r.id == base_id_ && segments_.empty()) {  // the oldest: processed now, its slot not written
      if (!wide_.empty()) wide_.erase(r.id);
      process(r);
      window_.pop_front();
      ++base_id_;
      pop_ended_front();
      return;
    }
    store(window_[static_cast<std::size_t>(r.id - base_id_)], pack(r, true));
    if (segments_.empty()) pop_ended_front();
    return;
  }
  const auto it = holes_.find(r.id);
  if (it == holes_.end() || it->second.slot.ended())
    throw std::logic_error(fmt::format("StreamingSink: request {} ended, not in flight", r.id));
  it->second.slot = pack(r, true);
  const std::uint64_t number = it->second.segment;
  if (--segments_[static_cast<std::size_t>(number - segment_base_)].open == 0 && number == segment_base_) {
    drain(false);
    if (segments_.empty()) pop_ended_front();
  }
}

void StreamingSink::pop_ended_front() {
  while (!window_.empty() && window_.front().ended()) {
    process(unpack(window_.front(), base_id_));
    window_.pop_front();
    ++base_id_;
  }
}

// The oldest half of the window goes to the spill file, as raw slots; those not ended become holes, kept in
// memory, whose records replace the file's when the segment comes back.
void StreamingSink::spill() {
  static_assert(std::is_trivially_copyable_v<Slot>);
  if (!spill_file_) {
    const char* dir = std::getenv("TMPDIR");
    std::string path = std::string(dir && *dir ? dir : "/tmp") + "/tokenfleet-spill-XXXXXX";
    const int fd = ::mkstemp(path.data());
    if (fd < 0) throw WriteError(fmt::format("cannot create a spill file for requests.csv's window in {}: {}",
                                             path.substr(0, path.rfind('/')), std::strerror(errno)));
    ::unlink(path.c_str());  // gone with the process, whatever ends it
    spill_file_ = ::fdopen(fd, "w+b");
    if (!spill_file_) {
      ::close(fd);
      throw WriteError(fmt::format("cannot open a spill file: {}", std::strerror(errno)));
    }
  }
  const std::size_t n = window_.size() / 2;
  const auto bytes = static_cast<long>(n * sizeof(Slot));
  Segment seg{base_id_, n, spill_end_, bytes, 0};
  for (auto it = free_frames_.rbegin(); it != free_frames_.rend(); ++it)
    if (it->second >= bytes) {
      seg.offset = it->first;
      seg.frame = it->second;
      free_frames_.erase(std::next(it).base());
      break;
    }
  if (seg.offset == spill_end_) spill_end_ += bytes;
  max_spill_end_ = std::max(max_spill_end_, spill_end_);
  const std::uint64_t number = segment_base_ + segments_.size();
  std::vector<Slot> buf;
  buf.reserve(std::min<std::size_t>(n, 4096));
  if (std::fseek(spill_file_, seg.offset, SEEK_SET) != 0)
    throw WriteError(fmt::format("cannot seek the spill file: {}", std::strerror(errno)));
  for (std::size_t i = 0; i < n; ++i) {
    const Slot& slot = window_[i];
    if (!slot.ended()) {
      holes_.emplace(base_id_ + i, Hole{slot, number});
      ++seg.open;
    }
    buf.push_back(slot);
    if (buf.size() == buf.capacity() || i + 1 == n) {
      if (std::fwrite(buf.data(), sizeof(Slot), buf.size(), spill_file_) != buf.size())
        throw WriteError(fmt::format("cannot write the spill file: {}", std::strerror(errno)));
      buf.clear();
    }
  }
  window_.drop_front(n);
  base_id_ += n;
  held_on_disk_ += n;
  spilled_ += n;
  segments_.push_back(seg);
}

// Processes the spilled segments at the front whose requests have all ended (`all`: every one, at the end).
void StreamingSink::drain(bool all) {
  std::vector<Slot> buf;
  while (!segments_.empty() && (all || segments_.front().open == 0)) {
    const Segment seg = segments_.front();
    if (std::fflush(spill_file_) != 0 || std::fseek(spill_file_, seg.offset, SEEK_SET) != 0)
      throw WriteError(fmt::format("cannot read back the spill file: {}", std::strerror(errno)));
    for (std::uint64_t done = 0; done < seg.count;) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(seg.count - done, 4096));
      buf.resize(k);
      if (std::fread(buf.data(), sizeof(Slot), k, spill_file_) != k)
        throw WriteError(fmt::format("cannot read back the spill file: {}",
                                     std::ferror(spill_file_) ? std::strerror(errno) : "short read"));
      for (std::size_t j = 0; j < k; ++j) {
        Slot& slot = buf[j];
        const std::uint64_t id = seg.first_id + done + j;
        if (!slot.ended()) {
          const auto h = holes_.find(id);
          if (h == holes_.end()) throw std::logic_error("StreamingSink: a spilled request lost");
          slot = h->second.slot;
          holes_.erase(h);
        }
        process(unpack(slot, id));
      }
      done += k;
    }
    held_on_disk_ -= seg.count;
    free_frames_.emplace_back(seg.offset, seg.frame);
    segments_.pop_front();
    ++segment_base_;
  }
  if (segments_.empty()) {  // the file is reused from its start
    spill_end_ = 0;
    free_frames_.clear();
  }
}

void StreamingSink::process(const RequestRecord& r) {
  if (file_) {
    append_requests_csv_row(file_->buffer(), r, o_.with_priority, o_.with_cached_tokens, o_.with_retries);
    file_->maybe_flush();
  }
  summary_.add(r);
  for (std::size_t i = windows_open_from_; i < windows_.size(); ++i) {
    WindowBuilder& w = windows_[i];
    if (r.arrival_s >= w.end_s()) w.close();  // arrivals come in order: no more for it
    else w.add(r);
  }
  if (timeseries_) timeseries_->add(r, last_s_);
}

void StreamingSink::finish(double end_s) {
  if (finished_) return;
  finished_ = true;
  last_s_ = std::max(last_s_, end_s);
  drain(true);
  for (std::size_t i = 0; i < window_.size(); ++i) process(unpack(window_[i], base_id_ + i));
  window_.clear();
  if (!wide_.empty() || !holes_.empty())
    throw std::logic_error(fmt::format("StreamingSink: {} records left over", wide_.size() + holes_.size()));
  if (file_) file_->maybe_flush();
}

void StreamingSink::commit_requests_csv() {
  if (file_) file_->commit();
}

}  // namespace tf
