#pragma once
// Runs spread over machines with MPI: `mpirun -n N tokenfleet size|compare|sweep|run ...`.
//
// Replicated control flow: every rank runs the whole command, so every rank builds the same jobs (probes,
// policies, sweep points, pods) in the same order, and job i is the same closure everywhere. A job runs on one rank
// only: rank 0 hands the jobs, in submission order, to the rank with the most free slots (itself included; `--jobs`
// slots each), that rank runs it in a child process as a local run does, and its text goes to rank 0, which passes
// it on to every other rank. So every rank's study sees every result, takes the same decisions and submits the
// same next jobs, and the outputs are the bytes of a local run with `--jobs` = the slots of all ranks together. A
// job's files (a pod's records) travel to rank 0 only, in chunks. Only rank 0 prints and writes outputs; the others
// have their standard output on /dev/null and keep their error lines for rank 0, which prints those that differ
// from its own.
//
// Failures: a job that fails (throws, crashes) is a failed result, as in a local run, and rank 0 logs on which rank
// it ran. A rank whose command fails (an error of its own: a file missing on its machine, ranks that do not build
// the same jobs) tells rank 0, which stops with "rank R (host H) failed: ..." and that rank's exit status. A rank
// that dies (killed, crashed) takes the whole run down: mpirun kills the others and names the rank. Every MPI
// call is non-blocking and polled, so no rank waits for a rank that has gone.
//
// Nothing here needs MPI's headers; without MPI at build time (TF_MPI=OFF), a tokenfleet launched by mpirun on
// more than one rank says so and stops (exit 2) instead of running the command once per rank.
#include <csignal>
#include <stdexcept>
#include <string>

namespace tf::mpi {

// Whether this tokenfleet was built with MPI.
bool built_with_mpi();

// MPI for this process: initialized when launched by mpirun (or another PMI launcher) on more than one rank,
// finalized by the destructor; nothing at all (no MPI_Init) otherwise. One per process, in main.
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // Non-zero when the session could not start (built without MPI, MPI_Init failed): the exit status, the
  // reason printed.
  int startup_error() const { return startup_error_; }
  // The end of the run: rank 0 tells the other ranks to stop and waits for each one's exit status (reporting those
  // that failed); another rank sends its status and waits for rank 0's word. Returns the exit status of this
  // process: rank 0's is the run's (mpirun's own exit status), the others' 0 once rank 0 has their status.
  int finish(int exit_code);

 private:
  int startup_error_ = 0;
  double init_ms_ = 0.0;
};

// Whether this process is one rank of a run spread over several (false in child processes forked from it).
bool active();
int rank();
int size();
// A rank other than 0: it runs jobs and writes nothing.
bool is_worker();
// Rank 0 or a run of one process: prints and writes the outputs.
inline bool writes_outputs() { return !is_worker(); }
// This machine's name (for messages).
std::string host_name();

// The jobs a rank runs at once when --jobs is not given: outside MPI the online CPUs, as ever; under mpirun the
// CPUs this process may run on (mpirun binds a rank to a core by default), shared with the other ranks of this
// machine when it is not bound.
int default_jobs();

// An error line of a worker rank, kept for rank 0 (which prints it if it is not one of its own) instead of being
// printed; rank 0's own error lines are kept too, to recognize the same error from other ranks.
void note_error_line(const std::string& line);

// Thrown on a worker rank when rank 0 has ended the run (it finished, or failed on its own): the command stops
// where it is and the process exits quietly. Not a std::exception, so that no error handler takes it for one.
struct RunEnded {};

// Rank 0: another rank's command failed (its message, its exit status).
class RankFailed : public std::runtime_error {
 public:
  RankFailed(const std::string& what, int exit_code) : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// The ranks do not build the same jobs: they do not see the same inputs (a file that differs between machines,
// an environment variable set on one machine only).
class RanksDiffer : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tf::mpi
