// The MPI session and the MPI runner (sim/study/mpi.hpp): the one file of tokenfleet that includes mpi.h.
#include "sim/study/mpi.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sim/engine/engine.hpp"
#include "sim/study/child_process.hpp"

#ifdef TF_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // MPI's C API only
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
// SimGrid ships an mpi.h of its own (SMPI, in include/smpi/): it simulates MPI programs, it does not run them.
#if defined(SMPI_H) || !(defined(OPEN_MPI) || defined(MPICH_VERSION))
#error "sim/study/mpi.cpp needs the mpi.h of Open MPI or MPICH, not SimGrid's SMPI one (include/smpi/)"
#endif
#endif

namespace tf::mpi {

namespace {

// How many ranks and which one the launcher says this process is (its environment), before any MPI call.
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == '\0' && n >= 0 && n < 1000000 ? static_cast<int>(n) : fallback;
}
int launched_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"})
    if (const int n = env_int(name, -1); n >= 0) return n;
  return 0;
}

std::vector<std::string> g_error_lines;  // this process's error lines (workers: not printed)

}  // namespace

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

void note_error_line(const std::string& line) { g_error_lines.push_back(line); }

#ifndef TF_HAVE_MPI

namespace {
int launched_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK"})
    if (const int n = env_int(name, -1); n >= 0) return n;
  return 0;
}
}  // namespace

bool built_with_mpi() { return false; }
bool active() { return false; }
int rank() { return 0; }
int size() { return 1; }
bool is_worker() { return false; }
int default_jobs() { return std::max(1, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))); }

Session::Session(int&, char**&) {
  if (launched_size() > 1) {
    if (launched_rank() == 0)
      std::fprintf(stderr,
                   "tokenfleet: error: launched by mpirun as %d ranks, but this tokenfleet was built without MPI; "
                   "install Open MPI (libopenmpi-dev) and configure again (-DTF_MPI=ON), or run it without mpirun\n",
                   launched_size());
    startup_error_ = 2;
  }
}
Session::~Session() = default;
int Session::finish(int exit_code) { return exit_code; }

}  // namespace tf::mpi

namespace tf {
std::unique_ptr<JobRunner> make_runner(int jobs, const volatile std::sig_atomic_t* interrupt_flag) {
  return make_local_runner(jobs, interrupt_flag);
}
}  // namespace tf

#else  // TF_HAVE_MPI

class MpiRunner;

namespace {

// Messages: a header and bytes, at most g_chunk of them (a longer text goes as kPart messages before its last
// one). Everything goes through one communicator and one tag, so that the messages from one rank arrive in the
// order they were sent (MPI's non-overtaking rule), whatever their kind.
enum MsgType : std::uint32_t {
  kHello = 1,  // a rank to rank 0, a runner created: its slots (aux), "host\ncpus"
  kSlots,      // rank 0 to a rank: the slots of all ranks together (aux)
  kAssign,     // rank 0 to a rank: run job `job` (payload: its label, to check that the ranks agree)
  kCancel,     // rank 0 to a rank: stop job `job`
  kPart,       // a piece of the next kResult's text
  kResult,     // a job's result: ok (aux), the output or the error
  kFileOpen,   // a rank to rank 0: result file `aux` of job `job` follows
  kFileChunk,  // ... its bytes
  kFileError,  // ... could not be read (payload: why)
  kStopped,    // a rank to rank 0: job `job` was stopped there, or never started (its slot is free)
  kFin,        // a rank to rank 0: its command ended with exit status aux (job: 1 when after kEnd); "host\nlines"
  kEnd,        // rank 0 to a rank: the run is over (aux: rank 0's exit status)
};

struct Header {
  std::uint32_t type = 0;
  std::uint32_t runner = 0;  // 0: the session's own messages
  std::uint64_t job = 0;
  std::int64_t aux = 0;
};

struct Message {
  int source = -1;
  Header h;
  std::string payload;
};

constexpr int kTag = 7411;
constexpr std::size_t kInFlight = std::size_t{32} << 20;  // bytes of files in flight to one rank at once
// Bytes of one message at most: 4 MiB, or TOKENFLEET_MPI_CHUNK_BYTES (the tests set it low, to send texts and files
// in many pieces).
std::size_t g_chunk = std::size_t{4} << 20;  // set once, at MPI_Init

struct Outgoing {
  std::string bytes;     // a message, header included
  FILE* file = nullptr;  // or a file sent in kFileChunk messages, header `h`
  Header h;
};

struct InFlight {
  MPI_Request request = MPI_REQUEST_NULL;
  std::string bytes;
  int dest = 0;
};

struct Finished {
  bool done = false;
  int exit_code = 0;
  bool after_end = false;
  bool reported = false;  // rank 0 has already stopped the run for it
  std::string host, lines;
};

struct State {
  bool initialized = false;  // MPI_Init done (finalize at the end)
  bool active = false;
  int rank = 0, size = 1;
  pid_t pid = -1;
  std::string host;
  MPI_Comm comm = MPI_COMM_NULL;
  std::vector<std::deque<Outgoing>> queues;  // per destination, in order
  std::list<InFlight> in_flight;
  std::vector<std::size_t> in_flight_bytes;
  std::map<std::tuple<int, std::uint32_t, std::uint64_t>, std::string> parts;
  std::map<std::uint32_t, MpiRunner*> runners;
  std::uint32_t next_runner = 1;
  std::map<std::uint32_t, std::vector<Message>> early;  // for a runner this rank has not created yet
  bool end_received = false;                           // a worker: rank 0 has ended the run
  bool ending = false;                                 // rank 0: kEnd sent
  std::vector<Finished> finished;                      // rank 0: each rank's kFin
  std::optional<int> failed_rank;                      // rank 0: a rank whose command failed, not yet thrown
  bool warned_binding = false;
};

State g;

bool in_session() { return g.active && getpid() == g.pid; }

int cpus_of_this_process() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return std::max(1, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  return std::max(1, CPU_COUNT(&set));
}

std::string serialize(const Header& h, std::string_view payload) {
  std::string out(sizeof(Header) + payload.size(), '\0');
  std::memcpy(out.data(), &h, sizeof h);
  if (!payload.empty()) std::memcpy(out.data() + sizeof h, payload.data(), payload.size());
  return out;
}

void enqueue(int dest, const Header& h, std::string_view payload) {
  Outgoing o;
  o.bytes = serialize(h, payload);
  g.queues[static_cast<std::size_t>(dest)].push_back(std::move(o));
}

// A message, in kPart pieces when longer than g_chunk.
void send(int dest, Header h, std::string_view payload) {
  while (payload.size() > g_chunk) {
    Header p = h;
    p.type = kPart;
    enqueue(dest, p, payload.substr(0, g_chunk));
    payload.remove_prefix(g_chunk);
  }
  enqueue(dest, h, payload);
}

void send_file(int dest, const Header& h, FILE* f) {
  Outgoing o;
  o.file = f;
  o.h = h;
  g.queues[static_cast<std::size_t>(dest)].push_back(std::move(o));
}

void isend(int dest, std::string bytes) {
  g.in_flight.push_back(InFlight{MPI_REQUEST_NULL, std::move(bytes), dest});
  InFlight& f = g.in_flight.back();
  g.in_flight_bytes[static_cast<std::size_t>(dest)] += f.bytes.size();
  MPI_Isend(f.bytes.data(), static_cast<int>(f.bytes.size()), MPI_BYTE, dest, kTag, g.comm, &f.request);
}

// Starts the sends that may start (a file's chunks while less than kInFlight of it is on the way) and forgets
// those done. True when something was sent or completed.
bool pump_sends() {
  bool any = false;
  for (int dest = 0; dest < g.size; ++dest) {
    auto& q = g.queues[static_cast<std::size_t>(dest)];
    while (!q.empty()) {
      Outgoing& o = q.front();
      if (!o.file) {
        isend(dest, std::move(o.bytes));
        q.pop_front();
        any = true;
        continue;
      }
      if (g.in_flight_bytes[static_cast<std::size_t>(dest)] >= kInFlight) break;
      std::string chunk(g_chunk, '\0');
      const std::size_t n = std::fread(chunk.data(), 1, g_chunk, o.file);
      chunk.resize(n);
      if (n > 0) {
        Header h = o.h;
        h.type = kFileChunk;
        isend(dest, serialize(h, chunk));
        any = true;
      }
      if (n < g_chunk) {
        if (std::ferror(o.file)) {
          Header h = o.h;
          h.type = kFileError;
          isend(dest, serialize(h, fmt::format("reading it back failed: {}", std::strerror(errno))));
        }
        std::fclose(o.file);
        q.pop_front();
      }
    }
  }
  for (auto it = g.in_flight.begin(); it != g.in_flight.end();) {
    int done = 0;
    MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
    if (done) {
      g.in_flight_bytes[static_cast<std::size_t>(it->dest)] -= it->bytes.size();
      it = g.in_flight.erase(it);
      any = true;
    } else {
      ++it;
    }
  }
  return any;
}

bool sends_pending() {
  if (!g.in_flight.empty()) return true;
  for (const auto& q : g.queues)
    if (!q.empty()) return true;
  return false;
}

bool receive(Message& m) {
  int flag = 0;
  MPI_Status st;
  MPI_Iprobe(MPI_ANY_SOURCE, kTag, g.comm, &flag, &st);
  if (!flag) return false;
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  std::string buf(static_cast<std::size_t>(std::max(0, count)), '\0');
  MPI_Recv(buf.data(), count, MPI_BYTE, st.MPI_SOURCE, kTag, g.comm, MPI_STATUS_IGNORE);
  m.source = st.MPI_SOURCE;
  m.h = Header{};
  if (buf.size() >= sizeof(Header)) std::memcpy(&m.h, buf.data(), sizeof(Header));
  m.payload = buf.size() > sizeof(Header) ? buf.substr(sizeof(Header)) : std::string();
  return true;
}

std::pair<std::string, std::string> split_first_line(const std::string& s) {
  const auto nl = s.find('\n');
  if (nl == std::string::npos) return {s, ""};
  return {s.substr(0, nl), s.substr(nl + 1)};
}

std::string rank_name(int r) {
  std::string host = r == g.rank ? g.host : "";
  if (r < static_cast<int>(g.finished.size()) && !g.finished[static_cast<std::size_t>(r)].host.empty())
    host = g.finished[static_cast<std::size_t>(r)].host;
  return host.empty() ? fmt::format("rank {}", r) : fmt::format("rank {} ({})", r, host);
}

void dispatch(Message&& m);
bool progress_once();
void throw_if_a_rank_failed();

// TOKENFLEET_TEST_MPI_FAIL=R:how, for the tests: rank R fails when it starts its first job ("throw": its command
// throws; "kill": it dies of SIGKILL; "job": that job throws in its child process).
std::string test_failure_here() {
  const char* v = std::getenv("TOKENFLEET_TEST_MPI_FAIL");
  if (!v) return "";
  const std::string s = v;
  const auto colon = s.find(':');
  if (colon == std::string::npos || s.substr(0, colon) != std::to_string(g.rank)) return "";
  return s.substr(colon + 1);
}

}  // namespace

// The jobs of one study spread over the ranks: see sim/study/mpi.hpp. Every rank holds one, created by the same
// call of the same study; rank 0 hands the jobs out, each rank runs its own in a local runner.
class MpiRunner final : public JobRunner {
 public:
  MpiRunner(int jobs, const volatile std::sig_atomic_t* flag)
      : seq_(g.next_runner++),
        jobs_here_(std::max(1, jobs)),
        flag_(flag ? flag : default_interrupt_flag()),
        local_(make_local_runner(jobs_here_, flag_)) {
    g.runners[seq_] = this;
    try {
      handshake();
    } catch (...) {
      g.runners.erase(seq_);
      throw;
    }
  }
  ~MpiRunner() override {
    cancel_all();
    for (auto& j : jobs_)
      for (auto& [k, f] : j.incoming)
        if (f) std::fclose(f);
    g.runners.erase(seq_);
  }

  int slots() const override { return total_; }

  JobId submit(std::function<std::string()> work, std::string label) override {
    return submit_with(std::move(work), std::move(label), JobOptions{});
  }

  JobId submit_with(std::function<std::string()> work, std::string label, const JobOptions& options) override {
    const JobId id = submitted_++;
    Job& j = job(id);
    j.work = std::move(work);
    j.label = std::move(label);
    j.options = options;
    j.submitted = true;
    if (g.rank == 0) {
      schedule();
    } else if (j.assigned && !j.reported) {
      check_label(id);
      start_here(id);
    }
    return id;
  }

  ChildResult wait(JobId id) override {
    if (id >= submitted_) return ChildResult{false, "", "no such task"};
    Job& j = jobs_[id];
    if (g.rank == 0 && j.lazy && !j.local && !j.have_result && !j.cancelled) {
      // Handed back by a rank that stopped it (it left): run here, now that it is wanted.
      j.lazy = false;
      j.owner = 0;
      j.forced_here = true;
      start_here(id);
    }
    wait_until([&] { return j.have_result || j.cancelled; });
    if (j.have_result) return j.result;
    return ChildResult{false, "", "the task was stopped: its result is no longer needed"};
  }

  bool done(JobId id) override {
    check_interrupt();
    progress_once();
    return id < submitted_ && jobs_[id].have_result;
  }

  void cancel(JobId id) override {
    if (id >= submitted_) return;
    Job& j = jobs_[id];
    if (j.have_result || j.cancelled) return;
    j.cancelled = true;
    // Every rank's study cancels it (the same calls): rank 0 stops it where it runs; the others wait for that.
    if (g.rank != 0) return;
    if (j.local) {
      stop_here(id);
    } else if (j.owner > 0 && !gone(j.owner)) {
      send(j.owner, Header{kCancel, seq_, id, 0}, "");
    }
    schedule();
  }

  void cancel_all() override {
    stopping_ = true;  // no job starts any more (one freed slot would start the next)
    for (JobId id = 0; id < submitted_; ++id) cancel(id);
    local_->cancel_all();
    running_here_.clear();
    if (g.rank != 0) {
      for (JobId id = 0; id < jobs_.size(); ++id) {
        Job& j = jobs_[id];
        j.local.reset();
        if (j.assigned && !j.reported) {
          j.reported = true;
          send(0, Header{kStopped, seq_, id, 0}, "");
        }
      }
    }
  }

  bool progress() override {
    check_interrupt();
    return progress_once();
  }

  // The session's calls.
  void on_message(Message&& m);
  bool poll_here();
  void rank_gone(int r);

 private:
  struct Job {
    std::function<std::string()> work;
    std::string label;
    JobOptions options;
    bool submitted = false;
    bool cancelled = false;  // by this rank's study
    bool have_result = false;
    ChildResult result;
    std::optional<JobId> local;  // its id in local_, while it runs here
    // Rank 0.
    int owner = -1;            // the rank it was handed to; -1: not yet
    bool lazy = false;         // handed back by a rank that stopped it: run here when waited for
    bool forced_here = false;  // run here outside the slots (lazy, then waited for)
    std::map<std::int64_t, FILE*> incoming;  // result files coming from another rank
    std::string file_error;
    // Another rank.
    bool assigned = false;  // rank 0 handed it here
    std::string assigned_label;
    bool reported = false;  // its result or kStopped sent to rank 0
  };

  Job& job(JobId id) {
    while (jobs_.size() <= id) jobs_.emplace_back();
    return jobs_[id];
  }

  bool gone(int r) const { return r > 0 && g.finished[static_cast<std::size_t>(r)].done; }

  void check_interrupt() {
    if (flag_ && *flag_ != 0) {
      cancel_all();
      throw RunInterrupted("stopped");
    }
  }

  template <class Done>
  void wait_until(Done done) {
    int idle_us = 20;
    for (;;) {
      check_interrupt();
      const bool any = progress_once();
      if (done()) return;
      throw_if_a_rank_failed();
      if (any) {
        idle_us = 20;
        continue;
      }
      usleep(static_cast<useconds_t>(idle_us));
      idle_us = std::min(idle_us * 2, 2000);
    }
  }

  void handshake();

  void check_label(JobId id) {
    const Job& j = jobs_[id];
    if (j.assigned_label != j.label)
      throw RanksDiffer(fmt::format(
          "{} does not build the jobs rank 0 builds: job {} is '{}' on rank 0 and '{}' here; every rank must run the "
          "same command on the same inputs (the same scenario and trace files at the same paths, the same TOKENFLEET_* "
          "environment: mpirun -x NAME passes a variable on)",
          rank_name(g.rank), id, j.assigned_label, j.label));
  }

  void start_here(JobId id) {
    Job& j = jobs_[id];
    std::function<std::string()> work = j.work;
    if (g.rank != 0 && !tested_failure_) {
      tested_failure_ = true;
      const std::string how = test_failure_here();
      if (how == "throw") throw std::runtime_error("TOKENFLEET_TEST_MPI_FAIL: this rank fails on purpose (a test)");
      if (how == "kill") raise(SIGKILL);
      if (how == "job")
        work = []() -> std::string { throw std::runtime_error("TOKENFLEET_TEST_MPI_FAIL: a job fails on purpose"); };
    }
    JobOptions here;
    here.outside_slots = j.options.outside_slots || j.forced_here;
    j.local = local_->submit_with(std::move(work), j.label, here);
    running_here_.insert(id);
    spdlog::debug("MPI: job {} ({}) runs on {}", id, j.label, rank_name(g.rank));
  }

  // Rank 0: stops a job running here.
  void stop_here(JobId id) {
    Job& j = jobs_[id];
    local_->cancel(*j.local);
    j.local.reset();
    running_here_.erase(id);
    if (!j.options.outside_slots && !j.forced_here) --busy_[0];
    j.owner = -1;
  }

  void finished_here(JobId id, ChildResult r);
  void result_at_root(JobId id, ChildResult r, int from);
  void schedule();

  std::uint32_t seq_;
  int jobs_here_;
  const volatile std::sig_atomic_t* flag_;
  std::unique_ptr<JobRunner> local_;
  int total_ = 0;
  JobId submitted_ = 0;
  std::deque<Job> jobs_;  // by id (references stay valid as it grows)
  std::set<JobId> running_here_;
  std::vector<int> slots_of_, busy_, cpus_of_;  // rank 0: per rank
  std::vector<bool> hello_;
  bool tested_failure_ = false;
  bool stopping_ = false;  // cancel_all() has run: no job starts any more
};

void MpiRunner::handshake() {
  if (g.rank == 0) {
    slots_of_.assign(static_cast<std::size_t>(g.size), 0);
    busy_.assign(static_cast<std::size_t>(g.size), 0);
    cpus_of_.assign(static_cast<std::size_t>(g.size), 0);
    hello_.assign(static_cast<std::size_t>(g.size), false);
    slots_of_[0] = jobs_here_;
    cpus_of_[0] = cpus_of_this_process();
    hello_[0] = true;
    if (auto it = g.early.find(seq_); it != g.early.end()) {
      auto early = std::move(it->second);
      g.early.erase(it);
      for (auto& m : early) on_message(std::move(m));
    }
    wait_until([&] {
      for (int r = 1; r < g.size; ++r)
        if (!hello_[static_cast<std::size_t>(r)] && !gone(r)) return false;
      return true;
    });
    total_ = 0;
    for (int r = 0; r < g.size; ++r)
      if (!gone(r)) total_ += slots_of_[static_cast<std::size_t>(r)];
    for (int r = 1; r < g.size; ++r)
      if (!gone(r)) send(r, Header{kSlots, seq_, 0, total_}, "");
    spdlog::info("MPI: {} slots over {} ranks", total_, g.size);
    for (int r = 0; r < g.size && !g.warned_binding; ++r) {
      const auto k = static_cast<std::size_t>(r);
      if (!gone(r) && slots_of_[k] > cpus_of_[k]) {
        g.warned_binding = true;
        spdlog::warn("{} runs {} jobs at once on {} CPU(s): mpirun binds each rank to a core by default; give mpirun "
                     "--bind-to none (with one rank per machine: --map-by node --bind-to none), or fewer --jobs",
                     rank_name(r), slots_of_[k], cpus_of_[k]);
      }
    }
  } else {
    send(0, Header{kHello, seq_, 0, jobs_here_}, fmt::format("{}\n{}", g.host, cpus_of_this_process()));
    wait_until([&] { return total_ > 0; });
  }
}

void MpiRunner::schedule() {
  if (g.rank != 0 || stopping_) return;
  for (JobId id = 0; id < submitted_; ++id) {
    Job& j = jobs_[id];
    if (j.owner != -1 || j.have_result || j.cancelled || j.lazy || j.local) continue;
    if (j.options.outside_slots) {
      j.owner = 0;
      start_here(id);
      continue;
    }
    int best = -1, best_free = 0;
    for (int r = 0; r < g.size; ++r) {
      const int free = gone(r) ? 0 : slots_of_[static_cast<std::size_t>(r)] - busy_[static_cast<std::size_t>(r)];
      if (free > best_free) {
        best = r;
        best_free = free;
      }
    }
    if (best < 0) break;  // no free slot: the rest wait, in order
    j.owner = best;
    ++busy_[static_cast<std::size_t>(best)];
    if (best == 0)
      start_here(id);
    else
      send(best, Header{kAssign, seq_, id, 0}, j.label);
  }
}

void MpiRunner::result_at_root(JobId id, ChildResult r, int from) {
  Job& j = job(id);
  if (j.have_result || j.cancelled) return;
  j.have_result = true;
  j.result = std::move(r);
  for (int w = 1; w < g.size; ++w)
    if (w != from && !gone(w))
      send(w, Header{kResult, seq_, id, j.result.ok ? 1 : 0}, j.result.ok ? j.result.output : j.result.error);
  if (!j.result.ok)
    spdlog::warn("job {} ({}) failed on {}: {}", id, j.label.empty() ? "unnamed" : j.label, rank_name(from),
                 j.result.error);
}

// A job of this rank's ended: rank 0 keeps its result and passes it on; another rank sends it (its files first).
void MpiRunner::finished_here(JobId id, ChildResult r) {
  Job& j = jobs_[id];
  if (g.rank == 0) {
    if (!j.options.outside_slots && !j.forced_here) --busy_[0];
    result_at_root(id, std::move(r), 0);
    schedule();
    return;
  }
  if (!j.reported) {
    j.reported = true;
    if (r.ok) {
      for (std::size_t k = 0; k < j.options.result_files.size(); ++k) {
        FILE* f = std::fopen(j.options.result_files[k].c_str(), "rb");
        if (!f) continue;  // the job wrote none (its text says why)
        const Header h{kFileOpen, seq_, id, static_cast<std::int64_t>(k)};
        send(0, h, "");
        send_file(0, h, f);
      }
    }
    send(0, Header{kResult, seq_, id, r.ok ? 1 : 0}, r.ok ? r.output : r.error);
  }
  if (!j.have_result) {
    j.have_result = true;
    j.result = std::move(r);
  }
}

bool MpiRunner::poll_here() {
  if (running_here_.empty()) return false;
  bool any = local_->progress();  // throws RunInterrupted when the flag is set
  for (auto it = running_here_.begin(); it != running_here_.end();) {
    const JobId id = *it;
    Job& j = jobs_[id];
    if (j.local && local_->done(*j.local)) {
      ChildResult r = local_->wait(*j.local);
      j.local.reset();
      it = running_here_.erase(it);
      finished_here(id, std::move(r));
      any = true;
    } else {
      ++it;
    }
  }
  return any;
}

void MpiRunner::on_message(Message&& m) {
  const JobId id = m.h.job;
  const int from = m.source;
  if (g.rank == 0) {
    switch (m.h.type) {
      case kHello: {
        const auto k = static_cast<std::size_t>(from);
        slots_of_[k] = static_cast<int>(m.h.aux);
        const auto [host, cpus] = split_first_line(m.payload);
        if (g.finished[k].host.empty()) g.finished[k].host = host;
        cpus_of_[k] = std::atoi(cpus.c_str());
        hello_[k] = true;
        break;
      }
      case kFileOpen: {
        Job& j = job(id);
        const auto k = static_cast<std::size_t>(m.h.aux);
        if (j.cancelled || j.have_result || k >= j.options.result_files.size()) break;
        FILE* f = std::fopen(j.options.result_files[k].c_str(), "wb");
        if (!f && j.file_error.empty())
          j.file_error = fmt::format("cannot write {}: {}", j.options.result_files[k], std::strerror(errno));
        j.incoming[m.h.aux] = f;
        break;
      }
      case kFileChunk: {
        Job& j = job(id);
        const auto it = j.incoming.find(m.h.aux);
        if (it == j.incoming.end() || !it->second) break;
        if (std::fwrite(m.payload.data(), 1, m.payload.size(), it->second) != m.payload.size() && j.file_error.empty())
          j.file_error = fmt::format("cannot write {}: {}", j.options.result_files[static_cast<std::size_t>(m.h.aux)],
                                     std::strerror(errno));
        break;
      }
      case kFileError: {
        Job& j = job(id);
        if (j.file_error.empty()) j.file_error = m.payload;
        break;
      }
      case kResult: {
        Job& j = job(id);
        if (j.owner == from) {
          --busy_[static_cast<std::size_t>(from)];
          j.owner = -2;  // done there
        }
        for (auto& [k, f] : j.incoming)
          if (f && std::fclose(f) != 0 && j.file_error.empty()) j.file_error = "cannot write a result file";
        j.incoming.clear();
        ChildResult r;
        r.ok = m.h.aux != 0;
        (r.ok ? r.output : r.error) = std::move(m.payload);
        if (r.ok && !j.file_error.empty()) {
          r.ok = false;
          r.output.clear();
          r.error = fmt::format("its result files did not come back from {}: {}", rank_name(from), j.file_error);
        }
        result_at_root(id, std::move(r), from);
        schedule();
        break;
      }
      case kStopped: {
        Job& j = job(id);
        if (j.owner == from) {
          --busy_[static_cast<std::size_t>(from)];
          j.owner = -1;
          if (!j.have_result && !j.cancelled) j.lazy = true;
        }
        schedule();
        break;
      }
      default:
        break;
    }
    return;
  }
  switch (m.h.type) {
    case kSlots:
      total_ = static_cast<int>(m.h.aux);
      break;
    case kAssign: {
      Job& j = job(id);
      j.assigned = true;
      j.assigned_label = std::move(m.payload);
      if (j.submitted && !j.reported) {
        check_label(id);
        start_here(id);
      }
      break;
    }
    case kCancel: {
      Job& j = job(id);
      if (j.local) {
        local_->cancel(*j.local);
        j.local.reset();
        running_here_.erase(id);
      }
      if (j.assigned && !j.reported) {
        j.reported = true;
        send(0, Header{kStopped, seq_, id, 0}, "");
      }
      break;
    }
    case kResult: {
      Job& j = job(id);
      if (!j.have_result) {
        j.have_result = true;
        j.result.ok = m.h.aux != 0;
        (j.result.ok ? j.result.output : j.result.error) = std::move(m.payload);
      }
      break;
    }
    default:
      break;
  }
}

// Rank 0: rank r has left (its command ended): its jobs come back, to be run here if they are waited for.
void MpiRunner::rank_gone(int r) {
  if (g.rank != 0) return;
  for (auto& j : jobs_)
    if (j.owner == r) {
      j.owner = -1;
      if (!j.have_result && !j.cancelled) j.lazy = true;
    }
  busy_[static_cast<std::size_t>(r)] = 0;
  schedule();
}

namespace {

void control(Message&& m) {
  if (m.h.type == kEnd) {
    g.end_received = true;
    return;
  }
  if (m.h.type != kFin || g.rank != 0) return;
  auto& f = g.finished[static_cast<std::size_t>(m.source)];
  f.done = true;
  f.exit_code = static_cast<int>(m.h.aux);
  f.after_end = m.h.job != 0;
  auto [host, lines] = split_first_line(m.payload);
  f.host = host;
  f.lines = lines;
  spdlog::debug("MPI: {} ended its command (exit status {})", rank_name(m.source), f.exit_code);
  // A failure: an error of its own (a non-zero status alone is an outcome, such as exit 3 for a point not served,
  // which rank 0 reaches too).
  if (f.exit_code != 0 && !f.lines.empty() && !f.after_end && !g.ending && !g.failed_rank) g.failed_rank = m.source;
  for (auto& [seq, runner] : g.runners) runner->rank_gone(m.source);
}

void dispatch(Message&& m) {
  const auto key = std::make_tuple(m.source, m.h.runner, m.h.job);
  if (m.h.type == kPart) {
    g.parts[key] += m.payload;
    return;
  }
  if (m.h.type == kResult) {
    if (auto it = g.parts.find(key); it != g.parts.end()) {
      m.payload = std::move(it->second) + m.payload;
      g.parts.erase(it);
    }
  }
  if (m.h.runner == 0) {
    control(std::move(m));
    return;
  }
  if (auto it = g.runners.find(m.h.runner); it != g.runners.end()) {
    it->second->on_message(std::move(m));
    return;
  }
  if (m.h.runner >= g.next_runner) {
    g.early[m.h.runner].push_back(std::move(m));
    return;
  }
  // For a runner this rank is done with: a job handed here is not run (rank 0 takes it back).
  if (m.h.type == kAssign && g.rank != 0) send(0, Header{kStopped, m.h.runner, m.h.job, 0}, "");
}

// Rank 0, when it would wait: throws RankFailed once another rank's command has failed. (Not while what it waits
// for is there: the same error may have come first from a rank that ran ahead, and rank 0 then reports its own.)
void throw_if_a_rank_failed() {
  if (g.rank != 0 || !g.failed_rank) return;
  const int r = *g.failed_rank;
  g.failed_rank.reset();
  auto& f = g.finished[static_cast<std::size_t>(r)];
  f.reported = true;
  std::string why = f.lines;
  while (!why.empty() && why.back() == '\n') why.pop_back();
  throw RankFailed(
      fmt::format("{} failed (exit status {}){}", rank_name(r), f.exit_code, why.empty() ? std::string() : ": " + why),
      f.exit_code);
}

// Receives what has come, sends what may go, and lets this rank's jobs progress. True when something happened.
// A worker throws RunEnded once rank 0 has ended the run.
bool progress_once() {
  bool any = false;
  Message m;
  while (receive(m)) {
    dispatch(std::move(m));
    any = true;
  }
  any = pump_sends() || any;
  std::vector<MpiRunner*> runners;
  for (auto& [seq, r] : g.runners) runners.push_back(r);
  for (MpiRunner* r : runners) any = r->poll_here() || any;
  if (g.rank != 0 && g.end_received) throw RunEnded{};
  return any;
}

// Progress without throwing, until `done` (the end of the run).
template <class Done>
void drain_until(Done done) {
  int idle_us = 20;
  auto last_note = std::chrono::steady_clock::now();
  while (!done()) {
    bool any = false;
    Message m;
    while (receive(m)) {
      dispatch(std::move(m));
      any = true;
    }
    any = pump_sends() || any;
    if (any) {
      idle_us = 20;
      continue;
    }
    if (std::chrono::steady_clock::now() - last_note > std::chrono::seconds(10)) {
      last_note = std::chrono::steady_clock::now();
      spdlog::info("MPI: waiting for the other ranks to end");
    }
    usleep(static_cast<useconds_t>(idle_us));
    idle_us = std::min(idle_us * 2, 2000);
  }
}

}  // namespace

bool built_with_mpi() { return true; }
bool active() { return in_session(); }
int rank() { return in_session() ? g.rank : 0; }
int size() { return in_session() ? g.size : 1; }
bool is_worker() { return in_session() && g.rank != 0; }

int default_jobs() {
  const int online = std::max(1, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  if (!in_session()) return online;
  const int mine = cpus_of_this_process();
  if (mine < online) return mine;  // bound by mpirun
  return std::max(1, online / std::max(1, env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1)));
}

Session::Session(int& argc, char**& argv) {
  const int launched = launched_size();
  if (launched <= 1 && !(launched == 0 && std::getenv("PMIX_RANK"))) return;  // not under mpirun: no MPI at all
  const auto start = std::chrono::steady_clock::now();
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    std::fprintf(stderr, "tokenfleet: error: MPI_Init failed\n");
    startup_error_ = 5;
    return;
  }
  g.initialized = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g.size);
  const double init_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (g.size <= 1) return;  // one rank: a local run
  MPI_Comm_dup(MPI_COMM_WORLD, &g.comm);
  g.active = true;
  g.pid = getpid();
  g.host = host_name();
  g.queues.resize(static_cast<std::size_t>(g.size));
  g.in_flight_bytes.assign(static_cast<std::size_t>(g.size), 0);
  g.finished.resize(static_cast<std::size_t>(g.size));
  g.finished[0].host = g.host;
  if (const int chunk = env_int("TOKENFLEET_MPI_CHUNK_BYTES", 0); chunk > 0) g_chunk = static_cast<std::size_t>(chunk);
  if (g.rank != 0) {
    // Only rank 0 prints: the others' standard output goes nowhere (their child processes' too).
    std::fflush(stdout);
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, STDOUT_FILENO);
      close(null);
    }
  }
  init_ms_ = init_ms;
}

Session::~Session() {
  if (g.initialized) {
    if (g.comm != MPI_COMM_NULL) MPI_Comm_free(&g.comm);
    MPI_Finalize();
    g.initialized = false;
    g.active = false;
  }
}

int Session::finish(int exit_code) {
  if (!in_session()) return exit_code;
  spdlog::debug("MPI: rank {} of {} on {} (MPI_Init took {:.1f} ms) ends with exit status {}", g.rank, g.size, g.host,
                init_ms_, exit_code);
  int out = exit_code;
  if (g.rank == 0) {
    g.ending = true;
    for (int w = 1; w < g.size; ++w) send(w, Header{kEnd, 0, 0, exit_code}, "");
    drain_until([] {
      for (int w = 1; w < g.size; ++w)
        if (!g.finished[static_cast<std::size_t>(w)].done) return false;
      return true;
    });
    drain_until([] { return !sends_pending(); });
    const std::set<std::string> mine(g_error_lines.begin(), g_error_lines.end());
    for (int w = 1; w < g.size; ++w) {
      const auto& f = g.finished[static_cast<std::size_t>(w)];
      if (f.exit_code == 0 || f.after_end || f.reported) continue;
      // Its error lines that are not rank 0's own (the same bad input fails every rank alike: said once).
      std::string lines;
      std::size_t start = 0;
      while (start < f.lines.size()) {
        const auto nl = f.lines.find('\n', start);
        const std::string line = f.lines.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        if (!line.empty() && !mine.count(line)) lines += "\n  " + line;
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
      if (lines.empty() && exit_code != 0) continue;
      std::fprintf(stderr, "tokenfleet: error: %s failed (exit status %d)%s\n", rank_name(w).c_str(), f.exit_code,
                   lines.empty() ? "" : (":" + lines).c_str());
      if (out == 0) out = f.exit_code;
    }
  } else {
    std::string lines;
    for (const auto& l : g_error_lines) lines += l + "\n";
    send(0, Header{kFin, 0, g.end_received ? 1u : 0u, exit_code}, g.host + "\n" + lines);
    drain_until([] { return g.end_received; });
    drain_until([] { return !sends_pending(); });
    out = 0;
  }
  MPI_Comm_free(&g.comm);
  g.comm = MPI_COMM_NULL;
  MPI_Finalize();
  g.initialized = false;
  g.active = false;
  return out;
}

}  // namespace tf::mpi

namespace tf {
std::unique_ptr<JobRunner> make_runner(int jobs, const volatile std::sig_atomic_t* interrupt_flag) {
  if (!mpi::active()) return make_local_runner(jobs, interrupt_flag);
  return std::make_unique<mpi::MpiRunner>(jobs, interrupt_flag);
}
}  // namespace tf

#endif  // TF_HAVE_MPI
