#pragma once
/// What a long run needs to survive a batch system: where it is (layer and phase, for error
/// messages), stop requests from signals (SIGTERM, SIGUSR1: what Slurm sends before a time
/// limit or preemption), test-only fault injection, and the memory the process may use.
#include <cstdint>
#include <string>

#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm {

/// Exit code of a run stopped by a signal after leaving a complete checkpoint (EX_TEMPFAIL):
/// a job script requeues on it.
inline constexpr int kExitStoppedBySignal = 75;

// ---- where the run is (local, for messages) ----

/// Set the layer (0-based; -1 = not in a layer) and phase that errors will name. Local.
void set_run_context(int layer, const std::string& phase);
/// "layer 3, phase agop" (or "" outside layers). Local.
std::string run_context();

// ---- stop requests ----

/// Install handlers for SIGTERM and SIGUSR1 that only record the signal. Local.
void install_stop_handlers();
/// The signal received by this rank (0 = none). Local, async-signal-safe to read.
int received_stop_signal();
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

// ---- test-only fault injection (environment variable DEEPRFM_FAULT) ----

/// DEEPRFM_FAULT="KIND@RANK:LAYER:PHASE" (LAYER 1-based, or * for any; PHASE a phase name or
/// *) makes rank RANK act out failure KIND at that point. Kinds: input, alloc, scalapack,
/// hdf5, nan, residual, crash, and sleep (hold the rank for 60 s so a test can kill the job
/// inside that phase). Returns true when the caller's (kind, layer, phase) matches on
/// this rank. Local.
bool fault_requested(const char* kind, int layer, const char* phase, int rank);

/// fault_requested() for the layer and phase of the current run context. Local.
bool fault_requested_in_context(const char* kind, int rank);

/// At a point where failures are agreed: throw the injected failure for kinds input, alloc,
/// hdf5 (inside a run_agreed region) and crash (anywhere: an unagreed exception). Local.
void inject_fault_point(int layer, const char* phase, int rank);

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
