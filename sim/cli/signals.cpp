// Ctrl-C and SIGTERM as a flag the runs poll, and the progress line on stderr.
#include "sim/cli/signals.hpp"

#include "sim/study/child_process.hpp"

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

namespace tf {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
volatile std::sig_atomic_t g_signal = 0;
bool g_progress_drawn = false;

// When the first signal came (CLOCK_MONOTONIC, ns; clock_gettime is async-signal-safe).
volatile long g_first_s = 0;
volatile long g_first_ns = 0;

// A repeat of the first signal within this many nanoseconds is the same request delivered twice, not a second
// one: GNU timeout (without --foreground) sends its signal to the command and then to the command's whole process
// group, and when the first has been handled before the second is sent, the process sees two.
constexpr long kDuplicateWithinNs = 300'000'000;

long ns_since_first() {
  timespec now {};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (static_cast<long>(now.tv_sec) - g_first_s) * 1'000'000'000L + (now.tv_nsec - g_first_ns);
}

extern "C" void on_interrupt(int sig) {
  if (g_interrupted) {
    if (sig == g_signal && ns_since_first() < kDuplicateWithinNs) return;  // the same one, delivered twice
    // A second one: stop now, as without a handler.
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  timespec now {};
  clock_gettime(CLOCK_MONOTONIC, &now);
  g_first_s = static_cast<long>(now.tv_sec);
  g_first_ns = now.tv_nsec;
  g_signal = sig;
  g_interrupted = 1;
}

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 90) return fmt::format("{:.0f} s", s);
  if (s < 5400) return fmt::format("{:.0f} min", s / 60);
  return fmt::format("{:.1f} h", s / 3600);
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // The child processes of size, compare and sweep are stopped by their runner when this flag is set.
  set_default_interrupt_flag(&g_interrupted);
}

const volatile std::sig_atomic_t* interrupt_flag() { return &g_interrupted; }
int interrupt_signal() { return g_signal; }

std::function<void(const RunProgress&)> progress_printer(bool quiet) {
  if (quiet || !isatty(STDERR_FILENO)) return {};
  using clock = std::chrono::steady_clock;
  struct State {
    clock::time_point start = clock::now();
    clock::time_point last{};
  };
  auto st = std::make_shared<State>();
  return [st](const RunProgress& p) {
    const auto now = clock::now();
    const double elapsed = std::chrono::duration<double>(now - st->start).count();
    if (elapsed < 2.0 || std::chrono::duration<double>(now - st->last).count() < 0.25) return;
    st->last = now;
    std::string left;
    if (p.simulated_s < p.duration_s && p.simulated_s > 0) {
      left = duration_text(elapsed * (p.duration_s - p.simulated_s) / p.simulated_s) + " left";
    } else {
      left = fmt::format("draining, {} requests in the system", p.arrived - p.finished);
    }
    const double share = p.duration_s > 0 ? std::min(1.0, p.simulated_s / p.duration_s) : 1.0;
    std::fprintf(stderr, "\r\033[Ksimulated %s of %s (%.0f %%), %zu requests done of %zu arrived, %s",
                 duration_text(p.simulated_s).c_str(), duration_text(p.duration_s).c_str(), share * 100.0, p.finished,
                 p.arrived, left.c_str());
    std::fflush(stderr);
    g_progress_drawn = true;
  };
}

void end_progress_line() {
  if (!g_progress_drawn) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  g_progress_drawn = false;
}
}  // namespace tf
