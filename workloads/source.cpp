// Workload sources: synthetic, sessions, trace replay.
#include "workloads/source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <queue>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "workloads/trace.hpp"

namespace tf {

std::optional<OverContext> parse_over_context(const std::string& s) {
  if (s == "cut") return OverContext::cut;
  if (s == "refuse") return OverContext::refuse;
  if (s == "drop") return OverContext::drop;
  return std::nullopt;
}

std::string to_string(OverContext o) {
  switch (o) {
    case OverContext::cut: return "cut";
    case OverContext::refuse: return "refuse";
    case OverContext::drop: return "drop";
  }
  return "cut";
}

std::string over_context_refusal(const Request& r, std::int64_t window, const std::string& trace_path) {
  const bool trace = !trace_path.empty();
  return fmt::format(
      "{}request {} (arriving at {:.3f} s) has a prompt of {} and an answer of {} tokens, {:.0f} in all, more than "
      "the model's context window of {} tokens (model.context_window); workload.over_context = \"refuse\" stops the "
      "run at the first such request: set it to \"cut\" (the prompt is shortened to fit) or \"drop\" (such "
      "requests are turned away, counted), or cap the lengths ({})",
      trace ? fmt::format("{}:{}: ", trace_path, r.trace_line) : "", r.id, r.arrival_s, r.prompt_tokens,
      r.output_tokens, static_cast<double>(r.prompt_tokens) + static_cast<double>(r.output_tokens), window,
      trace ? "workload.trace.max_prompt_tokens and max_output_tokens"
            : "workload.prompt_tokens.max and workload.output_tokens.max");
}

bool cut_to_context(Request& r, std::int64_t window) {
  if (!over_context(r, window)) return false;
  const std::int64_t prompt = r.prompt_tokens;
  r.output_tokens = std::min(r.output_tokens, std::max<std::int64_t>(1, window - 1));
  r.prompt_tokens = std::max<std::int64_t>(1, window - r.output_tokens);
  if (!r.hash_ids.empty() && r.prompt_tokens < prompt) {
    // The blocks of the part of the prompt kept, rounded up.
    const auto n = static_cast<std::int64_t>(r.hash_ids.size());
    r.hash_ids.resize(static_cast<std::size_t>(std::min(n, (n * r.prompt_tokens + prompt - 1) / prompt)));
  }
  return true;
}

namespace {

// Stream numbers under the scenario seed; fixed forever so that old seeds keep their meaning.
constexpr std::uint64_t kArrivalStream = 1;
constexpr std::uint64_t kPromptStream = 2;
constexpr std::uint64_t kOutputStream = 3;
constexpr std::uint64_t kQuestionsStream = 4;
constexpr std::uint64_t kThinkStream = 5;
constexpr std::uint64_t kTraceStream = 6;
constexpr std::uint64_t kPriorityStream = 7;

constexpr double kInf = std::numeric_limits<double>::infinity();

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

void check_duration(double duration_s) {
  if (std::isnan(duration_s) || duration_s < 0.0)
    fail(fmt::format("duration_s ({}) must not be negative", duration_s));
}

// Prompt and output lengths: two distributions, drawn jointly (one row index) when both are empirical on the
// same trace.
class Lengths {
 public:
  Lengths(const WorkloadSpec& spec, std::uint64_t seed)
      : prompt_(make_distribution(spec.prompt_tokens)),
        output_(make_distribution(spec.output_tokens)),
        prompt_rng_(make_stream(seed, kPromptStream)),
        output_rng_(make_stream(seed, kOutputStream)) {
    joint_ = prompt_->pairs() && prompt_->pairs() == output_->pairs();
  }
  void draw(Request& r) {
    if (joint_) {
      const LengthPairs& p = *prompt_->pairs();
      auto i = static_cast<std::size_t>(uniform01(prompt_rng_) * static_cast<double>(p.prompt.size()));
      if (i >= p.prompt.size()) i = p.prompt.size() - 1;
      r.prompt_tokens = std::max<std::int64_t>(1, prompt_->clamp_length(p.prompt[i]));
      r.output_tokens = std::max<std::int64_t>(1, output_->clamp_length(p.output[i]));
      return;
    }
    r.prompt_tokens = std::max<std::int64_t>(1, prompt_->sample(prompt_rng_));
    r.output_tokens = std::max<std::int64_t>(1, output_->sample(output_rng_));
  }
  // The streams as after n draw()s.
  void discard(std::uint64_t n) {
    prompt_rng_.discard(n * static_cast<std::uint64_t>(prompt_->draws_per_sample()));
    if (!joint_) output_rng_.discard(n * static_cast<std::uint64_t>(output_->draws_per_sample()));
  }
  const LengthDistribution& prompt() const { return *prompt_; }
  const LengthDistribution& output() const { return *output_; }

 private:
  std::unique_ptr<LengthDistribution> prompt_, output_;
  Rng prompt_rng_, output_rng_;
  bool joint_ = false;
};

// ----- synthetic: arrival process x lengths --------------------------------------------------------
class SyntheticSource final : public WorkloadSource {
 public:
  SyntheticSource(const WorkloadSpec& spec, std::uint64_t seed, double duration_s)
      : arrivals_(make_arrival_process(spec.arrival)),
        lengths_(spec, seed),
        arrival_rng_(make_stream(seed, kArrivalStream)),
        duration_s_(duration_s) {
    check_duration(duration_s);
    for (const auto& c : spec.checkpoints)
      if (c && c->seed == seed && c->arrival == spec.arrival && c->duration_s >= duration_s) checkpoints_ = c;
  }
  double next_arrival_s() override {
    if (!planned_) {
      if (now_s_ < duration_s_) now_s_ = arrivals_->next_arrival_s(now_s_, arrival_rng_);
      planned_ = true;
    }
    return now_s_ < duration_s_ ? now_s_ : kInf;
  }
  Request take() override {
    next_arrival_s();
    planned_ = false;
    Request r;
    r.id = next_id_++;
    r.arrival_s = now_s_;
    lengths_.draw(r);
    return r;
  }
  bool exhausted() override { return next_arrival_s() == kInf; }
  // The arrivals drawn one by one (their stream has no shortcut), the lengths' streams moved on by their count.
  // From the latest checkpoint at or before t, when the source is at its start and has one.
  std::uint64_t skip_before(double t) override {
    std::uint64_t n = 0;
    if (checkpoints_ && next_id_ == 0 && !planned_ && now_s_ == 0.0) {
      const ArrivalCheckpoint* from = nullptr;
      for (const auto& p : checkpoints_->points)
        if (p.time_s <= t) from = &p;
      if (from) {
        arrivals_ = from->process->clone();
        arrival_rng_ = from->rng;
        now_s_ = from->now_s;
        planned_ = from->planned;
        n = from->drawn;
      }
    }
    draw_arrivals_before(t, n, nullptr);
    next_id_ += n;
    lengths_.discard(n);
    return n;
  }
  // The checkpoints at `times` (in order), drawing the arrivals only.
  std::vector<ArrivalCheckpoint> checkpoints_at(const std::vector<double>& times,
                                                const volatile std::sig_atomic_t* interrupt) {
    std::vector<ArrivalCheckpoint> out;
    std::uint64_t n = 0;
    for (double t : times) {
      if (!draw_arrivals_before(t, n, interrupt)) return {};
      ArrivalCheckpoint p;
      p.time_s = t;
      p.drawn = n;
      p.now_s = now_s_;
      p.planned = planned_;
      p.process = arrivals_->clone();
      p.rng = arrival_rng_;
      out.push_back(std::move(p));
    }
    return out;
  }

 private:
  // Draws the arrivals before t, nothing else (as if taken), counting them in n; false when *interrupt is set
  // (polled every 65,536 arrivals).
  bool draw_arrivals_before(double t, std::uint64_t& n, const volatile std::sig_atomic_t* interrupt) {
    while (next_arrival_s() < t) {
      planned_ = false;
      if ((++n & 0xffff) == 0 && interrupt && *interrupt != 0) return false;
    }
    return true;
  }
  std::shared_ptr<const ArrivalCheckpoints> checkpoints_;
  std::unique_ptr<ArrivalProcess> arrivals_;
  Lengths lengths_;
  Rng arrival_rng_;
  double duration_s_;
  double now_s_ = 0.0;
  bool planned_ = false;
  std::uint64_t next_id_ = 0;
};

// ----- sessions -----------------------------------------------------------------------------------
class SessionSource final : public WorkloadSource {
 public:
  SessionSource(const WorkloadSpec& spec, std::uint64_t seed, double duration_s)
      : spec_(spec),
        visits_(make_arrival_process(spec.arrival)),
        lengths_(spec, seed),
        questions_(make_distribution(spec.session.questions)),
        think_(make_distribution(spec.session.think_time_s)),
        visit_rng_(make_stream(seed, kArrivalStream)),
        questions_rng_(make_stream(seed, kQuestionsStream)),
        think_rng_(make_stream(seed, kThinkStream)),
        duration_s_(duration_s) {
    check_duration(duration_s);
  }

  double next_arrival_s() override {
    plan_visit();
    const double follow = pending_.empty() ? kInf : pending_.top().time_s;
    const double visit = next_visit_s_ < duration_s_ ? next_visit_s_ : kInf;
    return std::min(follow, visit);
  }

  Request take() override {
    plan_visit();
    Request r;
    std::uint64_t session = 0;
    const double visit = next_visit_s_ < duration_s_ ? next_visit_s_ : kInf;
    if (!pending_.empty() && pending_.top().time_s <= visit) {
      const Pending p = pending_.top();
      pending_.pop();
      r.arrival_s = p.time_s;
      r.prompt_tokens = p.prompt_tokens;
      r.output_tokens = p.output_tokens;
      session = p.session;
      r.turn = p.turn;
      r.context_turn = p.context_turn;
    } else {
      // A new visit: its number of questions, then its first question.
      session = next_session_++;
      State st;
      st.remaining = std::max<long long>(1, questions_->sample(questions_rng_)) - 1;
      r.arrival_s = visit;
      lengths_.draw(r);
      st.context_tokens = r.prompt_tokens + r.output_tokens;
      sessions_.emplace(session, st);
      planned_visit_ = false;
      r.turn = 1;
      r.context_turn = spec_.session.carry_context ? 1 : 0;
    }
    r.id = next_id_++;
    r.session = session;
    open_.emplace(r.id, session);
    return r;
  }

  bool closed_loop() const override { return true; }

  void on_finished(std::uint64_t id, double time_s) override {
    const auto it = open_.find(id);
    if (it == open_.end()) return;
    const std::uint64_t session = it->second;
    open_.erase(it);
    auto s = sessions_.find(session);
    if (s == sessions_.end()) return;
    State& st = s->second;
    if (st.remaining <= 0) {
      sessions_.erase(s);
      return;
    }
    double think = think_->sample_real(think_rng_);
    think = std::clamp(std::isnan(think) ? 0.0 : think, think_->min, think_->max);
    const double t = time_s + think;
    if (!(t < duration_s_)) {  // the session is cut at the end of the arrival period: counted, not asked
      questions_cut_ += static_cast<std::uint64_t>(st.remaining);
      sessions_.erase(s);
      return;
    }
    Request next;
    lengths_.draw(next);
    if (spec_.session.carry_context) {
      // The conversation so far, then the new question; the oldest part is dropped beyond the context window.
      std::int64_t prompt = st.context_tokens + next.prompt_tokens;
      prompt = std::min<std::int64_t>(prompt, static_cast<std::int64_t>(lengths_.prompt().max));
      // (The system prompt, put in front of every prompt by SystemPrompt below, counts against the window.)
      if (spec_.context_window > 0)
        prompt = std::min(prompt, spec_.context_window - next.output_tokens - spec_.system_prompt_tokens);
      // Cut to fit: the conversation it carries no longer begins where the earlier prompts did.
      if (prompt < st.context_tokens + next.prompt_tokens) st.context_turn = st.turn + 1;
      next.prompt_tokens = std::max<std::int64_t>(1, prompt);
    }
    st.context_tokens = next.prompt_tokens + next.output_tokens;
    --st.remaining;
    ++st.turn;
    pending_.push(Pending{t, seq_++, session, st.turn, spec_.session.carry_context ? st.context_turn : 0,
                          next.prompt_tokens, next.output_tokens});
  }

  bool exhausted() override { return next_arrival_s() == kInf && open_.empty(); }
  std::uint64_t questions_cut() const override { return questions_cut_; }

 private:
  struct State {
    int turn = 1;                     // of the current question
    int context_turn = 1;             // where the conversation its prompt carries begins (Request::context_turn)
    long long remaining = 0;          // questions still to ask after the current one
    std::int64_t context_tokens = 0;  // the conversation so far: last prompt + last answer
  };
  struct Pending {
    double time_s;
    std::uint64_t seq;
    std::uint64_t session;
    int turn;
    int context_turn;
    std::int64_t prompt_tokens, output_tokens;
    bool operator>(const Pending& o) const { return time_s != o.time_s ? time_s > o.time_s : seq > o.seq; }
  };
  void plan_visit() {
    if (planned_visit_) return;
    if (next_visit_s_ < duration_s_) next_visit_s_ = visits_->next_arrival_s(next_visit_s_, visit_rng_);
    planned_visit_ = true;
  }

  WorkloadSpec spec_;
  std::unique_ptr<ArrivalProcess> visits_;
  Lengths lengths_;
  std::unique_ptr<LengthDistribution> questions_, think_;
  Rng visit_rng_, questions_rng_, think_rng_;
  std::uint64_t questions_cut_ = 0;
  double duration_s_;
  double next_visit_s_ = 0.0;
  bool planned_visit_ = false;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending_;
  std::unordered_map<std::uint64_t, State> sessions_;
  std::unordered_map<std::uint64_t, std::uint64_t> open_;  // request id -> session
  std::uint64_t next_id_ = 0, next_session_ = 0, seq_ = 0;
};

// ----- trace replay -------------------------------------------------------------------------------
class TraceSource final : public WorkloadSource {
 public:
  TraceSource(const TraceSpec& spec, std::uint64_t seed, double duration_s)
      : spec_(spec), reader_(spec.path, spec.format, spec.skip_bad_rows), rng_(make_stream(seed, kTraceStream)),
        duration_s_(duration_s) {
    check_duration(duration_s);
    if (!(spec.speed > 0.0) || !std::isfinite(spec.speed)) fail(fmt::format("speed ({}) must be positive", spec.speed));
    if (!(spec.rate_scale > 0.0) || !std::isfinite(spec.rate_scale))
      fail(fmt::format("rate_scale ({}) must be positive", spec.rate_scale));
    if (!(spec.jitter_s >= 0.0) || !std::isfinite(spec.jitter_s))
      fail(fmt::format("jitter_s ({}) must not be negative", spec.jitter_s));
    if (!(spec.window_start_s >= 0.0) || !(spec.window_end_s > spec.window_start_s))
      fail(fmt::format("window_end_s ({}) must be greater than window_start_s ({})", spec.window_end_s,
                       spec.window_start_s));
    whole_ = std::floor(spec.rate_scale);
    frac_ = spec.rate_scale - whole_;
  }

  double next_arrival_s() override {
    fill();
    if (heap_.empty() || !(heap_.top().time_s < duration_s_)) return kInf;
    return heap_.top().time_s;
  }
  Request take() override {
    fill();
    Item it = heap_.top();
    heap_.pop();
    if (it.clamped_row) ++clamped_;  // counted once per row replayed (on its first copy)
    it.request.id = next_id_++;
    it.request.arrival_s = it.time_s;
    return std::move(it.request);
  }
  bool exhausted() override { return next_arrival_s() == kInf; }
  std::uint64_t skipped_bad_rows() const override { return reader_.skipped_rows(); }
  std::uint64_t clamped_rows() const override { return clamped_; }
  std::vector<std::string> bad_row_examples() const override { return reader_.bad_row_examples(); }

 private:
  struct Item {
    double time_s;
    std::uint64_t seq;
    Request request;
    bool clamped_row = false;  // the first copy of a row whose lengths were cut
    bool operator>(const Item& o) const { return time_s != o.time_s ? time_s > o.time_s : seq > o.seq; }
  };

  // Reads rows until the earliest pending request can no longer be preceded by a later row's copies.
  void fill() {
    while (!done_ && (heap_.empty() || heap_.top().time_s > last_row_time_s_)) read_row();
  }

  void read_row() {
    TraceRow row;
    for (;;) {
      if (!reader_.next(row) || row.time_s >= spec_.window_end_s) {
        // End of this pass.
        if (!spec_.loop || pass_rows_ == 0) {
          if (spec_.loop && pass_rows_ == 0 && passes_ == 0)
            throw TraceError(spec_.path, 0, "", "no rows in the chosen window: nothing to loop");
          done_ = true;
          return;
        }
        if (passes_ == 0) {
          const double span = last_in_window_s_ - first_in_window_s_;
          period_s_ = pass_rows_ >= 2 && span > 0.0 ? span * static_cast<double>(pass_rows_) /
                                                           static_cast<double>(pass_rows_ - 1)
                                                     : 0.0;
          if (!(period_s_ > 0.0))
            throw TraceError(spec_.path, 0, "", "cannot loop a trace window whose rows all have the same time");
        }
        ++passes_;
        reader_.rewind();
        pass_rows_ = 0;
        // A pass starts a whole period after the previous one; stop once it starts after the end.
        if ((static_cast<double>(passes_) * period_s_) / spec_.speed >= duration_s_) {
          done_ = true;
          return;
        }
        continue;
      }
      if (row.time_s < spec_.window_start_s) continue;
      break;
    }
    if (passes_ == 0) {
      if (pass_rows_ == 0) first_in_window_s_ = row.time_s;
      last_in_window_s_ = row.time_s;
    }
    ++pass_rows_;
    const double t = (static_cast<double>(passes_) * period_s_ + (row.time_s - spec_.window_start_s)) / spec_.speed;
    last_row_time_s_ = t;
    const std::int64_t prompt =
        spec_.max_prompt_tokens > 0 ? std::min(row.prompt_tokens, spec_.max_prompt_tokens) : row.prompt_tokens;
    const std::int64_t output =
        spec_.max_output_tokens > 0 ? std::min(row.output_tokens, spec_.max_output_tokens) : row.output_tokens;
    const bool clamped = prompt != row.prompt_tokens || output != row.output_tokens;
    // Rate scale: floor(scale) copies, one more with probability frac(scale); the first at the row's time.
    long long copies = static_cast<long long>(whole_);
    if (frac_ > 0.0 && uniform01(rng_) < frac_) ++copies;
    for (long long c = 0; c < copies; ++c) {
      Item it;
      it.time_s = c == 0 ? t : t + spec_.jitter_s * uniform01(rng_);
      it.seq = seq_++;
      it.clamped_row = clamped && c == 0;
      it.request.prompt_tokens = prompt;
      it.request.output_tokens = output;
      it.request.hash_ids = row.hash_ids;
      it.request.trace_line = row.line;
      heap_.push(std::move(it));
    }
    if (t >= duration_s_) done_ = true;  // rows come in time order: nothing later arrives in time
  }

  TraceSpec spec_;
  TraceReader reader_;
  Rng rng_;
  double duration_s_;
  double whole_ = 1.0, frac_ = 0.0;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> heap_;
  bool done_ = false;
  double last_row_time_s_ = -kInf;
  std::uint64_t pass_rows_ = 0, passes_ = 0, seq_ = 0, next_id_ = 0, clamped_ = 0;
  double first_in_window_s_ = 0.0, last_in_window_s_ = 0.0, period_s_ = 0.0;
};

}  // namespace

double trace_span_s(const TraceSpec& spec) {
  TraceReader reader(spec.path, spec.format, spec.skip_bad_rows);
  TraceRow row;
  double last = -1.0;
  while (reader.next(row)) {
    if (row.time_s < spec.window_start_s) continue;
    if (row.time_s >= spec.window_end_s) break;  // rows come in time order
    last = row.time_s;
  }
  return last < 0.0 ? 0.0 : (last - spec.window_start_s) / spec.speed;
}

namespace {

// A source over another one (the decorators below): everything forwarded to the inner source, so that each
// decorator overrides only what it changes (the forwarders were written out in each of four decorators, and one
// left out would have lost the inner source's counts silently).
class ForwardingSource : public WorkloadSource {
 public:
  explicit ForwardingSource(std::unique_ptr<WorkloadSource> inner) : inner_(std::move(inner)) {}
  double next_arrival_s() override { return inner_->next_arrival_s(); }
  Request take() override { return inner_->take(); }
  bool closed_loop() const override { return inner_->closed_loop(); }
  void on_finished(std::uint64_t id, double time_s) override { inner_->on_finished(id, time_s); }
  bool exhausted() override { return inner_->exhausted(); }
  std::uint64_t skipped_bad_rows() const override { return inner_->skipped_bad_rows(); }
  std::uint64_t clamped_rows() const override { return inner_->clamped_rows(); }
  std::uint64_t questions_cut() const override { return inner_->questions_cut(); }
  std::vector<std::string> bad_row_examples() const override { return inner_->bad_row_examples(); }
  std::uint64_t over_context_cut() const override { return inner_->over_context_cut(); }
  std::uint64_t over_context_dropped() const override { return inner_->over_context_dropped(); }
  // Open loop: the inner source skips (the decorator is told how many: skipped()); a closed loop is taken and
  // answered request by request through this decorator.
  std::uint64_t skip_before(double t) override {
    if (inner_->closed_loop()) return WorkloadSource::skip_before(t);
    const std::uint64_t n = inner_->skip_before(t);
    skipped(n);
    return n;
  }

 protected:
  // n requests were skipped below: a decorator with a stream of its own moves it on.
  virtual void skipped(std::uint64_t /*n*/) {}
  std::unique_ptr<WorkloadSource> inner_;
};

// Gives each request of another source its priority class, drawn by the shares from a stream of its own (so the
// other streams' draws, and so the requests, stay as they are).
class PriorityClasses final : public ForwardingSource {
 public:
  PriorityClasses(std::unique_ptr<WorkloadSource> inner, std::vector<double> shares, std::uint64_t seed)
      : ForwardingSource(std::move(inner)), shares_(std::move(shares)), rng_(make_stream(seed, kPriorityStream)) {}
  Request take() override {
    Request r = inner_->take();
    const double u = uniform01(rng_);
    double cumulative = 0.0;
    r.priority = static_cast<int>(shares_.size()) - 1;  // what rounding leaves over goes to the last class
    for (std::size_t c = 0; c + 1 < shares_.size(); ++c) {
      cumulative += shares_[c];
      if (u < cumulative) {
        r.priority = static_cast<int>(c);
        break;
      }
    }
    return r;
  }

 private:
  void skipped(std::uint64_t n) override { rng_.discard(n); }  // one uniform a request
  std::vector<double> shares_;
  Rng rng_;
};

// The model's context window over another source's requests (workload.over_context): each one whose prompt and
// answer exceed it is cut to it, refused (the run stops), or marked to be turned away when it arrives; the others
// pass as they are. Takes nothing ahead, so a closed loop (sessions) runs as without it.
// workload.system_prompt_tokens: the same system prompt begins every prompt (the conversation a session's prompt
// carries begins with it, so it is there once).
class SystemPrompt final : public ForwardingSource {
 public:
  SystemPrompt(std::unique_ptr<WorkloadSource> inner, std::int64_t tokens) : ForwardingSource(std::move(inner)), tokens_(tokens) {}
  Request take() override {
    Request r = inner_->take();
    if (!r.hash_ids.empty())
      throw std::invalid_argument(fmt::format(
          "request {} has hash_ids (from its trace): workload.system_prompt_tokens cannot be put in front of a prompt "
          "whose blocks its trace names; leave it out",
          r.id));
    r.prompt_tokens += tokens_;
    return r;
  }

 private:
  std::int64_t tokens_;
};

class ContextWindow final : public ForwardingSource {
 public:
  ContextWindow(std::unique_ptr<WorkloadSource> inner, const WorkloadSpec& spec)
      : ForwardingSource(std::move(inner)),
        window_(spec.context_window),
        mode_(spec.over_context),
        trace_path_(spec.trace.enabled ? spec.trace.path : "") {}
  Request take() override {
    Request r = inner_->take();
    if (!over_context(r, window_)) return r;
    switch (mode_) {
      case OverContext::cut:
        cut_to_context(r, window_);
        r.context_cut = true;
        ++cut_;
        break;
      case OverContext::drop:
        r.over_context = true;
        ++dropped_;
        break;
      case OverContext::refuse: throw OverContextError(over_context_refusal(r, window_, trace_path_));
    }
    return r;
  }
  std::uint64_t over_context_cut() const override { return cut_; }
  std::uint64_t over_context_dropped() const override { return dropped_; }

 private:
  std::int64_t window_;
  OverContext mode_;
  std::string trace_path_;
  std::uint64_t cut_ = 0, dropped_ = 0;
};

// Only the requests arriving at or after start_s (WorkloadSpec::start_s): the source is the whole workload's, and
// the requests before start_s are drawn and thrown away, so every request kept is the full run's (arrival, lengths,
// priority, trace row: every stream is drawn as in the full run), renumbered from 0. A closed loop is told that each
// question thrown away was answered the moment it was asked, so visits begun before start_s go on asking after it
// (their think times then start from those instants: not the full run's, statistically alike only).
class FromStart final : public ForwardingSource {
 public:
  FromStart(std::unique_ptr<WorkloadSource> inner, double start_s) : ForwardingSource(std::move(inner)), start_s_(start_s) {}
  double next_arrival_s() override {
    skip();
    return inner_->next_arrival_s();
  }
  Request take() override {
    skip();
    Request r = inner_->take();
    r.id -= skipped_;
    return r;
  }
  void on_finished(std::uint64_t id, double time_s) override { inner_->on_finished(id + skipped_, time_s); }
  bool exhausted() override {
    skip();
    return inner_->exhausted();
  }
  std::uint64_t clamped_rows() const override { return inner_->clamped_rows() - clamped_before_; }
  std::uint64_t over_context_cut() const override { return inner_->over_context_cut() - cut_before_; }
  std::uint64_t over_context_dropped() const override { return inner_->over_context_dropped() - dropped_before_; }

 private:
  void skip() {
    if (done_) return;
    done_ = true;
    // Arrivals come in time order, and a closed loop answered at once plans nothing earlier than now: once the next
    // arrival is at or after start_s, nothing before it comes any more.
    skipped_ = inner_->skip_before(start_s_);
    clamped_before_ = inner_->clamped_rows();
    cut_before_ = inner_->over_context_cut();
    dropped_before_ = inner_->over_context_dropped();
  }
  double start_s_;
  bool done_ = false;
  std::uint64_t skipped_ = 0, clamped_before_ = 0, cut_before_ = 0, dropped_before_ = 0;
};

std::unique_ptr<WorkloadSource> make_plain_source(const WorkloadSpec& spec, std::uint64_t seed, double duration_s) {
  if (spec.trace.enabled) return std::make_unique<TraceSource>(spec.trace, seed, duration_s);
  if (spec.session.enabled) return std::make_unique<SessionSource>(spec, seed, duration_s);
  return std::make_unique<SyntheticSource>(spec, seed, duration_s);
}

}  // namespace

std::shared_ptr<const ArrivalCheckpoints> ArrivalCheckpoints::build(const WorkloadSpec& spec, std::uint64_t seed,
                                                                     double duration_s, std::vector<double> times,
                                                                     const volatile std::sig_atomic_t* interrupt) {
  if (spec.trace.enabled || spec.session.enabled) return nullptr;
  std::sort(times.begin(), times.end());
  WorkloadSpec plain = spec;
  plain.checkpoints.clear();
  SyntheticSource source(plain, seed, duration_s);
  auto c = std::make_shared<ArrivalCheckpoints>();
  c->arrival = spec.arrival;
  c->seed = seed;
  c->duration_s = duration_s;
  c->points = source.checkpoints_at(times, interrupt);
  if (c->points.size() != times.size()) return nullptr;  // interrupted
  return c;
}

std::unique_ptr<WorkloadSource> make_workload_source(const WorkloadSpec& spec, std::uint64_t seed, double duration_s) {
  auto source = make_plain_source(spec, seed, duration_s);
  if (spec.system_prompt_tokens > 0) source = std::make_unique<SystemPrompt>(std::move(source), spec.system_prompt_tokens);
  if (spec.context_window > 0) source = std::make_unique<ContextWindow>(std::move(source), spec);
  if (spec.priority_shares.size() > 1)
    source = std::make_unique<PriorityClasses>(std::move(source), spec.priority_shares, seed);
  if (spec.start_s > 0.0) source = std::make_unique<FromStart>(std::move(source), spec.start_s);
  return source;
}

}  // namespace tf
