#pragma once
// Running work in child processes: SimGrid allows one engine per process, so every simulation of a
// study (fleet sizes, policies, sweep points) runs in a child forked for it, and its result comes back
// as text through a pipe. The parent never creates an engine.
//
// Studies hand their work to a JobRunner: jobs are submitted, waited for by id, and cancelled when their
// result is no longer wanted; at most slots() run at once and the rest wait in submission order. Two runners:
// LocalProcessRunner (forked children, `--jobs`) and, under mpirun, the MPI runner of sim/study/mpi.hpp, which
// spreads the jobs over the ranks. That one relies on what every study does anyway: every rank runs the same
// command line, so every rank builds the same jobs in the same order (a job's id is its submission index, and what
// a study submits, waits for and cancels depends only on results, never on timing or on done()); a job runs on one
// rank and its text goes to every rank. The results, and so the outputs, are the same bytes whatever the runner and
// the number of processes.
#include <csignal>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tf {

struct ChildResult {
  bool ok = false;
  std::string output;  // what the child's function returned
  std::string error;   // why not ok (the exception's message, a crash)
};

using JobId = std::size_t;

// How a job is run, beyond its function and label.
struct JobOptions {
  // Not counted against the runner's slots (a short measurement beside the simulations, such as size's demand).
  bool outside_slots = false;
  // Files the job writes besides its text (a pod's records): part of its result. A runner that ran the job in
  // another machine's process brings them here, to these paths (the paths this process's job would have written).
  std::vector<std::string> result_files;
};

class JobRunner {
 public:
  virtual ~JobRunner() = default;
  // How many jobs run at once.
  virtual int slots() const = 0;
  // Queues a job (it starts as soon as a slot is free); `label` names it in the log. Ids are 0, 1, 2, ...
  virtual JobId submit(std::function<std::string()> work, std::string label) = 0;
  // The same with options; a runner without a notion of them takes the job as an ordinary one.
  virtual JobId submit_with(std::function<std::string()> work, std::string label, const JobOptions& options) {
    (void)options;
    return submit(std::move(work), std::move(label));
  }
  // Waits for job `id` (other jobs keep running and starting meanwhile) and returns its result. When the
  // interrupt flag is set while waiting, every job is stopped and RunInterrupted is thrown (within a fraction
  // of a second).
  virtual ChildResult wait(JobId id) = 0;
  // Whether job `id` has finished (its result ready for wait without blocking); never blocks.
  virtual bool done(JobId id) = 0;
  // Stops a job whose result is no longer wanted (a queued one never starts); wait() on it then gives an error.
  virtual void cancel(JobId id) = 0;
  // Stops every job (the destructor does it too).
  virtual void cancel_all() = 0;
  // Lets the running jobs make progress without waiting for one: reads what the children sent, starts queued jobs.
  // True when something came. Throws RunInterrupted as wait() does.
  virtual bool progress() { return false; }
};

// Jobs in child processes forked from this one, `jobs` at once. The children die with their parent (kill -9
// included) and leave Ctrl-C to it (SIGINT blocked). `interrupt_flag` (Ctrl-C, SIGTERM; null: the one given to
// set_default_interrupt_flag, if any) is polled every 50 ms while waiting: once set, the children are killed
// (SIGKILL: a child writes nothing but its pipe, so nothing is left half-written) and reaped, and wait() throws
// RunInterrupted.
std::unique_ptr<JobRunner> make_local_runner(int jobs, const volatile std::sig_atomic_t* interrupt_flag = nullptr);
// The flag runners use when given none (sim/cli's install_interrupt_handlers registers its flag here).
void set_default_interrupt_flag(const volatile std::sig_atomic_t* interrupt_flag);
const volatile std::sig_atomic_t* default_interrupt_flag();

// Submits a job that does not count against the runner's slots (a short measurement beside the simulations,
// such as size's demand); a runner without that notion takes it as an ordinary job.
JobId submit_outside_slots(JobRunner& runner, std::function<std::string()> work, std::string label);

// Runs each task in a child process, at most `jobs` at once; results in the order of the tasks. A task
// that throws gives ok = false and the exception's message. With `interrupt_flag`, as make_local_runner.
std::vector<ChildResult> run_in_children(const std::vector<std::function<std::string()>>& tasks, int jobs,
                                         const volatile std::sig_atomic_t* interrupt_flag = nullptr);

// The runner a study's command uses: under mpirun (sim/study/mpi.hpp) the MPI runner, `jobs` at once in each rank;
// else make_local_runner(jobs). In a child process always the local one.
std::unique_ptr<JobRunner> make_runner(int jobs, const volatile std::sig_atomic_t* interrupt_flag = nullptr);

struct Task {
  std::function<std::string()> work;
  std::string label;        // names it in the log and in errors
  JobOptions options;
};
// Runs the tasks as jobs of make_runner(jobs, interrupt_flag); results in the order of the tasks.
std::vector<ChildResult> run_tasks(const std::vector<Task>& tasks, int jobs,
                                   const volatile std::sig_atomic_t* interrupt_flag = nullptr);

}  // namespace tf
