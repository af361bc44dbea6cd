#include "sim/cli/common.hpp"
#include "sim/study/pods.hpp"

#include <csignal>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>

#include <fmt/format.h>

#include "cluster/cost_model.hpp"
#include "results/report.hpp"
#include "results/summary.hpp"
#include "sim/cli/signals.hpp"
#include "sim/engine/engine.hpp"
#include "sim/scenario/scenario.hpp"
#include "sim/study/mpi.hpp"
#include "workloads/source.hpp"
#include "workloads/trace.hpp"

namespace tf {

Scenario load_scenario_or_default(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return load_scenario_text(default_scenario_toml(), "<built-in default>", overrides);
  return load_scenario_file(path, overrides);
}

void print_error(const std::string& what) {
  mpi::note_error_line(what);
  if (!mpi::is_worker()) std::cerr << "tokenfleet: error: " << what << "\n";
}

void print_note(const std::string& what) {
  if (!mpi::is_worker()) std::cerr << "tokenfleet: note: " << what << "\n";
}

int guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const mpi::RunEnded&) {  // a worker rank: rank 0 has ended the run (main ends it quietly)
    throw;
  } catch (const mpi::RankFailed& e) {
    end_progress_line();
    print_error(e.what());
    return e.exit_code() != 0 ? e.exit_code() : exit_internal_error;
  } catch (const mpi::RanksDiffer& e) {
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const RunInterrupted& e) {
    end_progress_line();
    return interrupted_exit(e.what());
  } catch (const ScenarioError& e) {
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const WorkloadInputError& e) {  // before SimulationError, which it is a kind of
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const TraceError& e) {
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const OverContextError& e) {  // workload.over_context = "refuse": the input is wrong for the model
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const UsageError& e) {
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const EngineSettingError& e) {
    print_error(e.what());
    return exit_bad_scenario;
  } catch (const SimulationError& e) {
    print_error(e.what());
    return exit_unservable;
  } catch (const std::invalid_argument& e) {
    print_error(e.what());
    return exit_unservable;
  } catch (const WriteError& e) {
    print_error(e.what());
    return exit_io_error;
  } catch (const ReportError& e) {
    print_error(std::string("report: ") + e.what());
    return exit_io_error;
  } catch (const std::exception& e) {
    print_error(fmt::format("internal error: {}; this is a bug in tokenfleet, please report it", e.what()));
    return exit_internal_error;
  } catch (...) {
    print_error("internal error: an unknown exception; this is a bug in tokenfleet, please report it");
    return exit_internal_error;
  }
}

namespace {

// "<output>.tmp-<pid>" (write_file_atomically) or ".tokenfleet-write-check-<pid>": the pid, else -1.
long temp_file_pid(const std::string& name) {
  static const char* const kOutputs[] = {"summary.json", "requests.csv", "timeseries.csv", "scenario.toml",
                                         "report.html",  "sizing.json",  "probes.csv",     "compare.csv",
                                         "sweep.csv",    "sweep.json",   "scale_check.csv", "scale_check.json"};
  std::string digits;
  if (name.rfind(".tokenfleet-write-check-", 0) == 0) {
    digits = name.substr(std::strlen(".tokenfleet-write-check-"));
  } else {
    for (const char* output : kOutputs) {
      const std::string prefix = std::string(output) + ".tmp-";
      if (name.rfind(prefix, 0) == 0) digits = name.substr(prefix.size());
    }
  }
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stol(digits);
}

}  // namespace

int remove_stale_temp_files(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const long pid = temp_file_pid(name);
    if (pid <= 0 || pid == static_cast<long>(getpid())) continue;
    // A process of that id still runs: maybe another run writing here; its file is left alone.
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) continue;
    std::error_code rm;
    if (it->is_regular_file(rm) && fs::remove(it->path(), rm)) ++removed;
  }
  return removed;
}

int prepare_output_dir(const std::string& dir, std::initializer_list<const char*> outputs) {
  if (!mpi::writes_outputs()) return exit_ok;  // another MPI rank than 0: writes nothing, rank 0 does
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    print_error(fmt::format("cannot create output folder {}: {}", dir, ec.message()));
    return exit_io_error;
  }
  for (const char* name : outputs) fs::remove(fs::path(dir) / name, ec);
  remove_stale_temp_files(dir);
  // Writable? Found now, not after the whole simulation: a file made and removed the way the outputs will be.
  const fs::path probe = fs::path(dir) / fmt::format(".tokenfleet-write-check-{}", static_cast<long>(getpid()));
  if (FILE* f = std::fopen(probe.c_str(), "wb")) {
    std::fclose(f);
    fs::remove(probe, ec);
  } else {
    print_error(fmt::format("cannot write in output folder {}: {}", dir, std::strerror(errno)));
    return exit_io_error;
  }
  return exit_ok;
}

int interrupted_exit(const std::string& detail) {
  // Under mpirun, Ctrl-C reaches the ranks as SIGTERM from mpirun, which also stops them so when another rank died.
  const char* what = interrupt_signal() != SIGTERM ? "Ctrl-C"
                     : mpi::active()              ? "SIGTERM: Ctrl-C at mpirun, or mpirun ending the run after a rank died"
                                                  : "SIGTERM";
  print_error(detail.empty() ? fmt::format("interrupted ({}); no results written", what)
                             : fmt::format("interrupted ({}): {}; no results written", what, detail));
  return 128 + (interrupt_signal() ? interrupt_signal() : SIGINT);
}

std::string describe_scenario(const Scenario& s) {
  if (s.mixed()) {
    const std::vector<double> shares = pool_arrival_shares(s);
    std::string out = fmt::format(
        "scenario '{}' ({}): {} on a mixed fleet of {} replica(s), {} GPUs; {:.0f} s simulated after {:.0f} s "
        "warm-up{}\n  batching {} (max_batch {}, max_batched_tokens {}); router {} within each pool, arrivals split "
        "over the pools by {}",
        s.name, s.source, s.model.name, s.replicas, s.fleet_gpus(), s.duration_s - s.warmup_s, s.warmup_s,
        s.duration_from_trace ? " (duration_s left out: the whole trace)" : "", s.batching, s.limits.max_batch,
        s.limits.max_batched_tokens, s.router,
        s.fleet_pools.front().arrival_share > 0 ? "the pools' arrival_share" : "capacity (saturated, at the mean lengths)");
    for (int i = 0; i < static_cast<int>(s.fleet_pools.size()); ++i) {
      const Scenario ps = pool_scenario(s, i);
      const CostModel cost(ps.model, ps.gpu, ps.dtype, ps.layout(), ps.cost);
      out += fmt::format("\n  pool '{}': {} replica(s) of {} x {} ({}; tp {}, pp {}, ep {}), {} GPUs, KV capacity {} "
                         "tokens per replica; {:.1f} % of the arrivals",
                         s.fleet_pools[static_cast<std::size_t>(i)].name, ps.replicas, ps.gpus_per_replica(),
                         ps.gpu.name, to_string(ps.dtype), ps.tensor_parallel, ps.pipeline_parallel,
                         ps.expert_parallel, ps.replicas * ps.gpus_per_replica(), cost.kv_capacity_tokens(),
                         shares[static_cast<std::size_t>(i)] * 100.0);
    }
    return out;
  }
  const CostModel cost(s.model, s.gpu, s.dtype, s.layout(), s.cost);
  const int prefill = prefill_pool_size(s);
  return fmt::format(
      "scenario '{}' ({}): {} on {} replica(s) of {} x {} ({}), {} GPUs; {:.0f} s simulated after {:.0f} s "
      "warm-up{}\n  KV capacity per replica: {} tokens; batching {} (max_batch {}, max_batched_tokens {}); router "
      "{}",
      s.name, s.source, s.model.name, s.replicas, s.gpus_per_replica(), s.gpu.name, to_string(s.dtype),
      s.replicas * s.gpus_per_replica(), s.duration_s - s.warmup_s, s.warmup_s,
      s.duration_from_trace ? " (duration_s left out: the whole trace)" : "", cost.kv_capacity_tokens(), s.batching,
      s.limits.max_batch, s.limits.max_batched_tokens, s.router) +
         (prefill > 0 ? fmt::format("\n  disaggregated: {} prefill replica(s) (replicas 0-{}), {} decode replica(s) "
                                    "picked by {}",
                                    prefill, prefill - 1, s.replicas - prefill, decode_router_of(s))
                      : std::string()) +
         (s.pods > 1 ? fmt::format("\n  pods: {} pods of {} replicas, arrivals split over them at random (seeded), "
                                   "each pod simulated on its own", s.pods, s.replicas / s.pods)
                     : std::string());
}

std::string scenario_text(const std::string& scenario_path, const std::vector<std::string>& overrides) {
  std::string text;
  if (scenario_path.empty()) {
    text = default_scenario_toml();
  } else {
    std::ifstream in(scenario_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  std::string head = fmt::format("# scenario: {}\n", scenario_path.empty() ? "<built-in default>" : scenario_path);
  for (const auto& o : overrides) head += "# --set " + o + "\n";
  if (!overrides.empty()) head += "# (the overrides above apply on top of the text below)\n";
  return head + "\n" + text;
}

}  // namespace tf
