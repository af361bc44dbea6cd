#include "sim/study/child_process.hpp"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sim/engine/engine.hpp"

namespace tf {

namespace {

const volatile std::sig_atomic_t* g_default_flag = nullptr;

enum class JobState { queued, running, done };

struct Job {
  std::function<std::string()> work;
  std::string label;
  bool outside_slots = false;
  JobState state = JobState::queued;
  pid_t pid = -1;
  int fd = -1;
  std::string text;  // what came through the pipe so far
  std::chrono::steady_clock::time_point started;
  ChildResult result;
};

// Forks the child of job `id`: it writes "1" + output on success, "0" + message on an exception. False when no
// child could be started (the job's result then says so).
bool start_child(Job& job, JobId id) {
  int fds[2];
  if (pipe(fds) != 0) {
    spdlog::warn("child process for task {}: pipe failed: {}", id, std::strerror(errno));
    return false;
  }
  spdlog::default_logger()->flush();
  std::fflush(nullptr);
  job.started = std::chrono::steady_clock::now();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Dies with its parent: a probe left running after `size` or `compare` was killed (kill -9 included) would go
    // on using the CPUs for nothing. The parent may have died before prctl: then it is too late to be told.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    // Ctrl-C at a terminal reaches the whole process group: the parent decides (it kills its children), so a
    // child ignores it rather than dying half-way through its report.
    std::signal(SIGINT, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, nullptr);  // SimGrid installs its own SIGINT handler: blocked, it never runs
    close(fds[0]);
    std::string out;
    try {
      out = job.work();
      out.insert(out.begin(), '1');
    } catch (const std::exception& e) {
      out = e.what();
      out.insert(out.begin(), '0');
    } catch (...) {
      out = "0unknown error";
    }
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) _exit(1);
      done += static_cast<std::size_t>(n);
    }
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  if (pid < 0) {
    spdlog::warn("child process for task {}: fork failed: {}", id, std::strerror(errno));
    close(fds[0]);
    return false;
  }
  job.pid = pid;
  job.fd = fds[0];
  spdlog::debug("child process {}: forked for task {}{}", pid, id, job.label.empty() ? "" : " (" + job.label + ")");
  return true;
}

// The child has closed its pipe: reap it and read what it sent.
void finish_child(Job& job, JobId id) {
  close(job.fd);
  job.fd = -1;
  int status = 0;
  while (waitpid(job.pid, &status, 0) < 0 && errno == EINTR) {
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - job.started).count();
  const std::string& text = job.text;
  if (WIFSIGNALED(status))
    spdlog::debug("child process {} (task {}): killed by signal {} after {:.3f} s", job.pid, id, WTERMSIG(status),
                  wall_s);
  else
    spdlog::debug("child process {} (task {}): exit status {} after {:.3f} s, {} bytes back{}", job.pid, id,
                  WEXITSTATUS(status), wall_s, text.size(), !text.empty() && text[0] == '0' ? " (the task threw)" : "");
  job.state = JobState::done;
  job.pid = -1;
  ChildResult& r = job.result;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || text.empty()) {
    r.error = WIFSIGNALED(status) ? fmt::format("the simulation crashed (signal {})", WTERMSIG(status))
                                  : "the simulation process failed";
  } else {
    r.ok = text[0] == '1';
    (r.ok ? r.output : r.error) = text.substr(1);
  }
  std::string().swap(job.text);
}

void kill_child(Job& job, JobId id, const char* why) {
  if (job.state == JobState::running && job.pid > 0) {
    kill(job.pid, SIGKILL);
    int status = 0;
    while (waitpid(job.pid, &status, 0) < 0 && errno == EINTR) {
    }
    close(job.fd);
    spdlog::debug("child process {} (task {}): killed ({})", job.pid, id, why);
    job.pid = -1;
    job.fd = -1;
  }
  if (job.state != JobState::done) {
    job.state = JobState::done;
    job.result = ChildResult{false, "", std::string("the task was stopped: ") + why};
  }
  job.work = nullptr;
}

class LocalProcessRunner final : public JobRunner {
 public:
  LocalProcessRunner(int jobs, const volatile std::sig_atomic_t* flag)
      : slots_(std::max(1, jobs)), flag_(flag ? flag : g_default_flag) {}
  ~LocalProcessRunner() override { cancel_all(); }

  int slots() const override { return slots_; }

  JobId submit(std::function<std::string()> work, std::string label) override {
    return add(std::move(work), std::move(label), false);
  }
  // outside_slots: a job that does not count against the slots (a short measurement beside the simulations); the
  // result files are written here by the job itself.
  JobId submit_with(std::function<std::string()> work, std::string label, const JobOptions& options) override {
    return add(std::move(work), std::move(label), options.outside_slots);
  }

  bool progress() override {
    check_interrupt();
    start_queued();
    return pump(0);
  }

  bool done(JobId id) override {
    check_interrupt();
    pump(0);
    return id < jobs_.size() && jobs_[id].state == JobState::done;
  }

  ChildResult wait(JobId id) override {
    if (id >= jobs_.size()) return ChildResult{false, "", "no such task"};
    for (;;) {
      check_interrupt();
      start_queued();
      if (jobs_[id].state == JobState::done) return jobs_[id].result;
      pump(50);
    }
  }

  void cancel(JobId id) override {
    if (id < jobs_.size()) kill_child(jobs_[id], id, "its result is no longer needed");
  }

  void cancel_all() override {
    for (JobId id = 0; id < jobs_.size(); ++id)
      if (jobs_[id].state != JobState::done) kill_child(jobs_[id], id, "stopped");
  }

 private:
  JobId add(std::function<std::string()> work, std::string label, bool outside) {
    Job j;
    j.work = std::move(work);
    j.label = std::move(label);
    j.outside_slots = outside;
    jobs_.push_back(std::move(j));
    start_queued();
    return jobs_.size() - 1;
  }

  void check_interrupt() {
    if (flag_ && *flag_ != 0) {
      std::size_t running = 0;
      for (const auto& j : jobs_) running += j.state == JobState::running ? 1 : 0;
      cancel_all();
      spdlog::debug("interrupted: {} child process(es) killed and reaped", running);
      throw RunInterrupted(running > 0 ? fmt::format("{} running simulation(s) stopped", running)
                                       : std::string("stopped"));
    }
  }

  // Starts queued jobs, in submission order, while slots are free.
  void start_queued() {
    int busy = 0;
    for (const auto& j : jobs_) busy += j.state == JobState::running && !j.outside_slots ? 1 : 0;
    for (JobId id = 0; id < jobs_.size(); ++id) {
      Job& j = jobs_[id];
      if (j.state != JobState::queued) continue;
      if (!j.outside_slots && busy >= slots_) continue;
      if (!start_child(j, id)) {
        j.state = JobState::done;
        j.result = ChildResult{false, "", "could not start a child process"};
        continue;
      }
      j.state = JobState::running;
      if (!j.outside_slots) ++busy;
    }
  }

  // Reads what the running children have sent, waiting up to timeout_ms for something; reaps those that ended.
  // True when something came.
  bool pump(int timeout_ms) {
    std::vector<pollfd> fds;
    std::vector<JobId> ids;
    for (JobId id = 0; id < jobs_.size(); ++id)
      if (jobs_[id].state == JobState::running) {
        fds.push_back(pollfd{jobs_[id].fd, POLLIN, 0});
        ids.push_back(id);
      }
    if (fds.empty()) return false;
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n <= 0) return false;  // nothing yet, or EINTR (a signal: the caller checks the flag)
    char buf[65536];
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      Job& j = jobs_[ids[k]];
      const ssize_t got = read(j.fd, buf, sizeof buf);
      if (got > 0) {
        j.text.append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        finish_child(j, ids[k]);
      }
    }
    start_queued();
    return true;
  }

  int slots_;
  const volatile std::sig_atomic_t* flag_;
  std::deque<Job> jobs_;
};

}  // namespace

void set_default_interrupt_flag(const volatile std::sig_atomic_t* interrupt_flag) { g_default_flag = interrupt_flag; }
const volatile std::sig_atomic_t* default_interrupt_flag() { return g_default_flag; }

std::unique_ptr<JobRunner> make_local_runner(int jobs, const volatile std::sig_atomic_t* interrupt_flag) {
  return std::make_unique<LocalProcessRunner>(jobs, interrupt_flag);
}

JobId submit_outside_slots(JobRunner& runner, std::function<std::string()> work, std::string label) {
  JobOptions o;
  o.outside_slots = true;
  return runner.submit_with(std::move(work), std::move(label), o);
}

std::vector<ChildResult> run_in_children(const std::vector<std::function<std::string()>>& tasks, int jobs,
                                         const volatile std::sig_atomic_t* interrupt_flag) {
  jobs = std::max(1, jobs);
  spdlog::debug("{} task(s) in child processes, {} at a time", tasks.size(), jobs);
  LocalProcessRunner runner(jobs, interrupt_flag);
  std::vector<JobId> ids;
  for (const auto& t : tasks) ids.push_back(runner.submit(t, ""));
  std::vector<ChildResult> out;
  for (JobId id : ids) out.push_back(runner.wait(id));
  return out;
}

std::vector<ChildResult> run_tasks(const std::vector<Task>& tasks, int jobs,
                                   const volatile std::sig_atomic_t* interrupt_flag) {
  const auto runner = make_runner(std::max(1, jobs), interrupt_flag);
  spdlog::debug("{} task(s), {} at a time", tasks.size(), runner->slots());
  std::vector<JobId> ids;
  for (const auto& t : tasks) ids.push_back(runner->submit_with(t.work, t.label, t.options));
  std::vector<ChildResult> out;
  for (JobId id : ids) out.push_back(runner->wait(id));
  return out;
}

}  // namespace tf
