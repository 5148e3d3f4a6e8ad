#pragma once
/// Noticing a lost rank (docs/checkpointing.md, "A rank lost: the peer watch"): every rank beats
/// in a small heartbeat file beside the results file, `<output>.heartbeat`, from a thread of its
/// own (so it beats on through a 20-minute ScaLAPACK call), and reads the other ranks' beats.
/// A rank whose beat has not changed for --peer-timeout seconds (it is stopped, hung in the
/// kernel, or its node is gone), or whose process on this host has ended, is lost: every other
/// rank exits with code 75, one of them prints one line naming the lost rank, its host and pid
/// and the checkpoint that stays. No MPI is used from the thread (the program runs at
/// MPI_THREAD_FUNNELED), so a frozen peer cannot block the watch itself.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <deeprfm/mpi/communicator.hpp>
#include <deeprfm/runtime/run_control.hpp>

namespace deeprfm {

/// The heartbeat file of a results file: `<output>.heartbeat`. Local.
std::string heartbeat_path(const std::string& output);

/// The interval between two beats for a given timeout: timeout / 20, within [0.25 s, 5 s]. Local.
double heartbeat_interval(double timeout);

/// This rank is about to end on purpose (a watchdog abandonment, an MPI_Abort after an error):
/// marks its heartbeat slot "leaving" so that its peers do not report it as lost, and makes this
/// rank's watch stand down. Harmless without a PeerWatch. Local.
void announce_leaving();

/// The watch (one per rank). With timeout <= 0 or a single rank it does nothing.
class PeerWatch {
 public:
  /// Rank 0 creates the heartbeat file (after the run lock is held: the file is private to this
  /// run), a barrier, then every rank starts its thread. `text` words the message as for the
  /// Watchdog. Collective.
  PeerWatch(const std::string& output, double timeout, WatchdogText text,
            const mpi::Communicator& comm);
  /// Stops the thread and marks this rank's slot finished; rank 0 removes the file. Local.
  ~PeerWatch();
  PeerWatch(const PeerWatch&) = delete;
  PeerWatch& operator=(const PeerWatch&) = delete;

 private:
  void loop();
  bool read_all(std::vector<char>& buffer);
  void write_slot(int state);
  [[noreturn]] void leave(int lost);

  std::string path_;
  double timeout_ = 0;
  double interval_ = 1;
  WatchdogText text_;
  int rank_ = 0;
  int size_ = 1;
  std::uint64_t beats_ = 0;
  std::string host_;
  std::string pid_namespace_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace deeprfm
