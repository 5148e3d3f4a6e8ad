#pragma once
/// One writer per results file. A run (deeprfm or deeprfm-mlp, fresh, --continue or --resume)
/// holds an exclusive lock on `<results file>.lock` for its whole life, so a job and its
/// requeued copy, a sweep with a duplicated line or two resumes of one file never write the
/// same results file (or share its `<results file>.tmp`). The lock is a POSIX record lock
/// (`fcntl(F_SETLK)`) held by rank 0: the kernel, or the NFS/Lustre lock manager across nodes,
/// releases it when the holding process dies, so the lock of a crashed run is taken over
/// without anybody cleaning up. The file's text names the holder (host, pid, Slurm job, start
/// time) for the message a second run gets. docs/checkpointing.md, "One writer per file".
#include <string>

#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::store {

class RunLock {
 public:
  /// How long a run waits, by default, for a live holder to release the lock before it refuses
  /// (DEEPRFM_LOCK_WAIT seconds overrides it; 0 refuses at once).
  static constexpr double kDefaultLockWaitSeconds = 30;

  /// Take the lock of `results_path`, waiting up to DEEPRFM_LOCK_WAIT seconds (default
  /// kDefaultLockWaitSeconds) for another holder to let it go: a job requeued, or a run resumed,
  /// while the previous run's rank 0 is still exiting. Collective over `comm`. Agreed
  /// Error(input) naming the holder when another live run still holds it after the wait, for a
  /// bad DEEPRFM_LOCK_WAIT, or when the lock file cannot be created in the
  /// results file's folder (missing, read-only); agreed Error(resource) for other failures
  /// (e.g. a file system without record locks). One RunLock per results file per process:
  /// POSIX record locks belong to the process, and the destructor releases them.
  RunLock(const std::string& results_path, const mpi::Communicator& comm);
  /// Rank 0 removes the lock file, then releases the lock. Local (no communication).
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  /// `<results_path>.lock`. Local.
  const std::string& lock_path() const { return lock_path_; }

  /// The holder text this process writes into the lock file: `host=H pid=P slurm_job=J
  /// since=T` (slurm_job only inside a Slurm job). Local.
  static std::string holder_text();

 private:
  std::string lock_path_;
  int fd_ = -1;  ///< rank 0: the open, locked lock file
};

}  // namespace deeprfm::store
