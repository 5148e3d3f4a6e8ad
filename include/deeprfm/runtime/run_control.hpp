#pragma once
/// What a long run needs to survive a batch system: where it is (layer and phase, for error
/// messages), stop requests from signals (SIGTERM, SIGUSR1, SIGINT: what Slurm sends before a
/// time limit or preemption, and Ctrl-C), the job's time limit and the watchdog that enforces
/// it (docs/checkpointing.md, "Time limits and the watchdog"), the prediction of a layer's time,
/// and the memory the process may use. Where the run is (base/run_context.hpp) and test-only
/// fault injection (base/fault_injection.hpp) sit lower, in base, because the numerical code
/// below this module uses them.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <deeprfm/base/fault_injection.hpp>
#include <deeprfm/base/run_context.hpp>
#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm {

/// Exit code of a run stopped by a signal after leaving a complete checkpoint (EX_TEMPFAIL):
/// a job script requeues on it.
inline constexpr int kExitStoppedBySignal = 75;
/// Exit code of a run that cannot make progress within the job's time limit: the next layer
/// alone, by its measured time, needs more time than the job has. A job script must not
/// requeue on it (the requeued job would stop the same way).
inline constexpr int kExitCannotProgress = 76;

// ---- stop requests ----

/// Install handlers for SIGTERM, SIGUSR1 and SIGINT that only record the signal (the first
/// one and when it came; a second SIGTERM or SIGINT while one is pending means "stop now",
/// which the Watchdog acts on). Call it first thing in main(), before MPI_Init. Local.
void install_stop_handlers();
/// True if the stop handlers are still the ones install_stop_handlers() set (a library, e.g.
/// MPI_Init, may have replaced them); if not, reinstall them and return false. Local.
bool ensure_stop_handlers();
/// The signal received by this rank (0 = none). Local, async-signal-safe to read.
int received_stop_signal();
/// True once a second SIGTERM/SIGINT arrived while a stop was pending. Local.
bool stop_now_requested();
/// The signal any rank received (0 = none), the same on every rank. Collective.
int agreed_stop_signal(const mpi::Communicator& comm);

/// Thrown (on every rank at once) to abandon the work in flight at a safe point after a stop
/// signal; the last complete checkpoint stays valid.
class StopRequested : public std::exception {
 public:
  explicit StopRequested(int signal) : signal_(signal) {}
  int signal() const noexcept { return signal_; }
  const char* what() const noexcept override { return "stop requested by a signal"; }

 private:
  int signal_;
};

/// A safe point: if any rank received a stop signal, every rank throws StopRequested.
/// Collective.
void stop_point(const mpi::Communicator& comm);

/// Thrown (on every rank at once, after an agreed decision) when the next unit of work does not
/// fit before the job's time limit: rank 0 prints `message`, every rank exits with `exit_code`
/// (kExitStoppedBySignal: the checkpoint holds this invocation's work, requeue; or
/// kExitCannotProgress: do not requeue).
class TimeLimitStop : public std::exception {
 public:
  TimeLimitStop(int exit_code, std::string message)
      : exit_code_(exit_code), message_(std::move(message)) {}
  int exit_code() const noexcept { return exit_code_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  int exit_code_;
  std::string message_;
};

// ---- time limits (docs/checkpointing.md, "Time limits and the watchdog") ----

/// The job's time limit as the run sees it. Every rank must hold the same values
/// (agree_time_limits).
struct TimeLimits {
  double deadline = 0;        ///< Unix time (s) at which the job is killed; 0 = no deadline
  double stop_margin = 30;    ///< the run must have exited this many seconds before the deadline
  double stop_grace = 60;     ///< after a stop signal, wait this long for a safe point
  double peer_timeout = 300;  ///< a rank without a heartbeat this long is lost; 0 = no watch
};

/// --deadline's value: "" = the environment variable SLURM_JOB_END_TIME if it is set and a
/// number, else none; "none" or "0" = none; else a Unix time in seconds. Returns 0 for none.
/// Throws Error(input) for anything else. Local.
double parse_deadline(const std::string& text);
/// Rank 0's limits, on every rank (MPI_Bcast). Collective.
TimeLimits agree_time_limits(const TimeLimits& mine, const mpi::Communicator& comm);
/// Seconds since the Unix epoch (CLOCK_REALTIME, the clock SLURM_JOB_END_TIME refers to). Local.
double unix_now();
/// Rank 0's unix_now(), on every rank, so that decisions taken from it agree. Collective.
double agreed_unix_now(const mpi::Communicator& comm);

/// What the watchdog reports about the run (a layer of deeprfm, an epoch of deeprfm-mlp).
/// `in_flight` is the 1-based unit being computed (0 = before the first), `committed` the
/// units in the last complete checkpoint (-1 = no results file yet). Local, cheap, lock-free.
void set_progress(int in_flight, int committed);

/// The `committed` of the last set_progress (-1 = no results file yet, 0 = a file without a
/// complete unit). Local, lock-free.
int committed_progress();

/// Marks a checkpoint commit in progress on this rank for its lifetime: the watchdog lets a
/// running commit finish (within bounds) rather than throw away a completed unit. Local.
class CommitInProgress {
 public:
  CommitInProgress();
  ~CommitInProgress();
  CommitInProgress(const CommitInProgress&) = delete;
  CommitInProgress& operator=(const CommitInProgress&) = delete;
};

/// The main thread has decided to stop in order (a stop signal or a time-limit verdict agreed
/// at a safe point) and is about to commit and/or leave: a watchdog that fires meanwhile waits
/// for it (within the same bound as for a commit) instead of abandoning. Local.
void note_orderly_stop();

/// Words for the watchdog's (and the peer watch's) message.
struct WatchdogText {
  std::string program = "deeprfm";  ///< message prefix
  std::string unit = "layer";       ///< "layer" or "epoch"
  std::string output;               ///< the results file (the checkpoint)
  /// How a command line continues from the checkpoint ("--resume"): the line then says
  /// "continue with --resume FILE"; empty: it says only that the checkpoint is intact.
  std::string resume_flag;
  std::string stop_grace_flag;  ///< the flag setting stop_grace, named after it; may be empty
};

/// What the run leaves when it is ended now, for a message: "abandoning layer 3 (phase agop) in
/// flight; the checkpoint after layer 2 in FILE is intact; continue with --resume FILE" (or "the
/// commit of layer L in flight", "FILE holds no complete layer yet", "no results file was
/// written yet"). Reads the progress set by set_progress; for the threads that end the process.
/// Local.
std::string abandonment_text(const WatchdogText& text);

/// One thread per rank that ends the process when a long phase would outlast the job: when
/// now >= deadline - stop_margin, when a stop signal has been pending for more than
/// stop_grace seconds, or at once after a second SIGTERM/SIGINT (the deadline only once
/// arm_deadline() was called). It then waits for a commit in
/// progress to finish (at most half the time left before the deadline; without a deadline at
/// most stop_grace), rank 0 writes one line to stderr naming the unit abandoned and the
/// checkpoint that stays, and the process calls _exit(75). It never calls MPI, HDF5 or
/// anything that could wait for another rank. The destructor stops the thread: once it ran,
/// the watchdog never acts. Constructor and destructor are local (every rank has its own).
class Watchdog {
 public:
  Watchdog(const TimeLimits& limits, WatchdogText text, int rank);
  ~Watchdog();
  /// From now on, also act on the deadline (the signal paths act from the start). deeprfm arms
  /// it after its first time-limit check, so that a deadline already too close at start gives
  /// the check's verdict (exit 76 or a warning) rather than an abandonment. Local.
  void arm_deadline() { deadline_armed_.store(true); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  void loop();
  [[noreturn]] void abandon(const char* reason);

  TimeLimits limits_;
  WatchdogText text_;
  int rank_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> deadline_armed_{false};
  std::thread thread_;
};

/// Seconds a layer (or epoch) is predicted to take, and from what.
struct TimePrediction {
  double seconds = 0;
  bool measured = false;  ///< from measured times (false: from the flop count alone)
  std::string basis;      ///< "measured", "scaled from layer 2", "estimate from the flop count"
};

/// A completed unit's input dimension and seconds.
struct UnitTiming {
  int index = 0;  ///< 1-based
  int dim = 0;
  double seconds = 0;
};

/// Predict a layer of input dimension `dim`: the largest measured time among `done` with the
/// same dimension; else the most recent measured time scaled by flops(dim) / flops(its dim);
/// else flops(dim) / flop_rate. `flops` is a layer's flop count by input dimension, flop_rate
/// in flop/s. An estimate, not a guarantee. Local.
TimePrediction predict_unit_seconds(int dim, const std::vector<UnitTiming>& done,
                                    const std::function<double(int)>& flops, double flop_rate);

/// This rank's local DGEMM rate in flop/s, measured with square products for about `seconds`
/// (one BLAS thread per rank as configured). Local.
double local_dgemm_rate(double seconds = 0.05);

// ---- memory ----

/// Bytes this process may still use: the smaller of MemAvailable (/proc/meminfo) and the
/// cgroup limit minus usage, divided by the number of ranks on this node. Collective.
double available_memory_per_rank(const mpi::Communicator& comm);
/// Peak resident set size of this process in bytes (getrusage). Local.
double peak_rss_bytes();
/// Current resident set size of this process in bytes (/proc/self/statm). Local.
double current_rss_bytes();
/// Parse "512M", "8G", "1.5T", "123456" (bytes). Throws Error(input). Local.
double parse_memory_size(const std::string& text);

}  // namespace deeprfm
