#pragma once
/// Wall-clock timing per phase, with flop counts and the bytes this rank communicated. Each
/// rank times itself (optionally ending the phase with a barrier, see ScopedPhase); the
/// reductions over ranks are done by the caller (see rfm/deep_rfm.hpp and
/// rfm/results_writer.cpp).
#include <chrono>
#include <exception>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <mpi.h>

#include <deeprfm/mpi/comm_counters.hpp>

namespace deeprfm {

/// Accumulated time and flops of one named phase. Local.
struct PhaseRecord {
  double seconds = 0.0;
  double flops = 0.0;           ///< useful floating point operations, whole problem (not per rank)
  double bytes = 0.0;           ///< bytes this rank sent through MPI (mpi/comm_counters.hpp)
  double off_node_bytes = 0.0;  ///< the part of `bytes` sent to other nodes (same header)
  long calls = 0;
};

/// Named phases in first-use order. Local.
class PhaseTimers {
 public:
  /// Add a measurement to a phase (`bytes`: what this rank sent during it; `off_node_bytes`:
  /// the part of it that left the node). Local.
  void add(const std::string& phase, double seconds, double flops, double bytes = 0.0,
           double off_node_bytes = 0.0);
  const std::vector<std::string>& order() const { return order_; }
  const PhaseRecord& at(const std::string& phase) const { return records_.at(phase); }
  bool has(const std::string& phase) const { return records_.count(phase) != 0; }
  void clear();

 private:
  std::vector<std::string> order_;
  std::map<std::string, PhaseRecord> records_;
};

/// Seconds since an arbitrary epoch (steady clock). Local.
inline double wall_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

/// RAII: adds the elapsed time, the given flops and the bytes (total and off-node) this rank
/// sent through MPI meanwhile (comm_counters() difference) to a phase when it goes out of scope.
/// With a communicator `sync`, the phase ends with an MPI_Barrier on it (inside the timed
/// region): every rank's time is then the phase's critical path, a rank that finished early
/// waits here rather than in the next phase's first collective, and the phases add up to the
/// layer's wall time. The barrier is skipped while an exception unwinds the scope (an error
/// seen by some ranks only must reach MPI_Abort, not a barrier). Local without `sync`;
/// collective over `sync` with it.
class ScopedPhase {
 public:
  ScopedPhase(PhaseTimers& timers, std::string phase, double flops = 0.0,
              MPI_Comm sync = MPI_COMM_NULL)
      : timers_(timers),
        phase_(std::move(phase)),
        flops_(flops),
        sync_(sync),
        exceptions_(std::uncaught_exceptions()),
        start_(wall_seconds()),
        start_counters_(comm_counters()) {}
  ~ScopedPhase() {
    if (sync_ != MPI_COMM_NULL && std::uncaught_exceptions() == exceptions_) MPI_Barrier(sync_);
    const CommCounters now = comm_counters();
    timers_.add(phase_, wall_seconds() - start_, flops_,
                static_cast<double>(now.bytes - start_counters_.bytes),
                static_cast<double>(now.off_node_bytes - start_counters_.off_node_bytes));
  }
  ScopedPhase(const ScopedPhase&) = delete;
  ScopedPhase& operator=(const ScopedPhase&) = delete;

 private:
  PhaseTimers& timers_;
  std::string phase_;
  double flops_;
  MPI_Comm sync_;
  int exceptions_;
  double start_;
  CommCounters start_counters_;
};

}  // namespace deeprfm
