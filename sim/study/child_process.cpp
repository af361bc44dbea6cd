#include "sim/study/child_process.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tf {

namespace {

struct Child {
  pid_t pid = -1;
  int fd = -1;
  std::size_t task = 0;
  std::chrono::steady_clock::time_point started;
};

// The child writes "1" + output on success, "0" + message on an exception.
Child start(const std::function<std::string()>& task, std::size_t index) {
  Child c;
  c.task = index;
  int fds[2];
  if (pipe(fds) != 0) {
    spdlog::warn("child process for task {}: pipe failed: {}", index, std::strerror(errno));
    return c;
  }
  spdlog::default_logger()->flush();
  std::fflush(nullptr);
  c.started = std::chrono::steady_clock::now();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Dies with its parent: a probe left running after `size` or `compare` was killed (kill -9 included) would go
    // on using the CPUs for nothing. The parent may have died before prctl: then it is too late to be told.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    close(fds[0]);
    std::string out;
    try {
      out = task();
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
    spdlog::warn("child process for task {}: fork failed: {}", index, std::strerror(errno));
    close(fds[0]);
    return c;
  }
  c.pid = pid;
  c.fd = fds[0];
  spdlog::debug("child process {}: forked for task {}", pid, index);
  return c;
}

ChildResult finish(const Child& c) {
  ChildResult r;
  if (c.pid < 0) {
    r.error = "could not start a child process";
    return r;
  }
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = read(c.fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  close(c.fd);
  int status = 0;
  waitpid(c.pid, &status, 0);
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.started).count();
  if (WIFSIGNALED(status))
    spdlog::debug("child process {} (task {}): killed by signal {} after {:.3f} s", c.pid, c.task, WTERMSIG(status),
                  wall_s);
  else
    spdlog::debug("child process {} (task {}): exit status {} after {:.3f} s, {} bytes back{}", c.pid, c.task,
                  WEXITSTATUS(status), wall_s, text.size(),
                  !text.empty() && text[0] == '0' ? " (the task threw)" : "");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || text.empty()) {
    r.error = WIFSIGNALED(status) ? fmt::format("the simulation crashed (signal {})", WTERMSIG(status))
                                  : "the simulation process failed";
    return r;
  }
  r.ok = text[0] == '1';
  (r.ok ? r.output : r.error) = text.substr(1);
  return r;
}

}  // namespace

std::vector<ChildResult> run_in_children(const std::vector<std::function<std::string()>>& tasks, int jobs) {
  std::vector<ChildResult> out;
  jobs = std::max(1, jobs);
  spdlog::debug("{} task(s) in child processes, {} at a time", tasks.size(), jobs);
  for (std::size_t i = 0; i < tasks.size(); i += static_cast<std::size_t>(jobs)) {
    std::vector<Child> running;
    for (std::size_t k = i; k < std::min(tasks.size(), i + static_cast<std::size_t>(jobs)); ++k)
      running.push_back(start(tasks[k], k));
    for (const auto& c : running) out.push_back(finish(c));
  }
  return out;
}

}  // namespace tf
