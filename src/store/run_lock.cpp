#include <deeprfm/store/run_lock.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include <deeprfm/base/error.hpp>
#include <deeprfm/store/atomic_file.hpp>
#include <deeprfm/store/results_file.hpp>

namespace deeprfm::store {

namespace {

/// Ask for an exclusive record lock on the whole file without waiting: 0 if taken, else errno.
int try_lock(int fd) {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  return ::fcntl(fd, F_SETLK, &fl) == 0 ? 0 : errno;
}

std::string read_text(int fd) {
  std::string text;
  char buffer[512];
  ssize_t got;
  ::lseek(fd, 0, SEEK_SET);
  while ((got = ::read(fd, buffer, sizeof(buffer))) > 0) text.append(buffer, buffer + got);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

/// True if `fd` is still the file at `path` (it was not removed and replaced by a holder that
/// released the lock between our open and our lock).
bool same_file(int fd, const std::string& path) {
  struct stat by_fd {
  }, by_path{};
  if (::fstat(fd, &by_fd) != 0 || ::stat(path.c_str(), &by_path) != 0) return false;
  return by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
}

/// How long a run waits for another holder to release the lock before refusing:
/// DEEPRFM_LOCK_WAIT seconds (a number >= 0), default kDefaultLockWaitSeconds. Local.
double lock_wait_seconds() {
  const char* text = std::getenv("DEEPRFM_LOCK_WAIT");
  if (text == nullptr || *text == '\0') return RunLock::kDefaultLockWaitSeconds;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  DEEPRFM_CHECK_ABOUT(
      end != text && *end == '\0' && seconds >= 0 && seconds <= 86400, input, "DEEPRFM_LOCK_WAIT",
      "DEEPRFM_LOCK_WAIT='" << text << "' is not a number of seconds from 0 to 86400");
  return seconds;
}

/// Rank 0: open and lock `path`, write the holder text; returns the descriptor. A lock held by
/// another process is polled for up to lock_wait_seconds() (a requeued job or a resume that
/// starts while the previous run's rank 0 is still exiting). Throws a local Error(input)
/// naming the holder, or Error(resource).
int acquire(const std::string& path, const std::string& results_path) {
  const double wait = lock_wait_seconds();
  const auto start = std::chrono::steady_clock::now();
  for (int attempt = 0; attempt < 100;) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      const int open_errno = errno;
      // The folder is the user's choice: a missing or unwritable one is an input error, told
      // in the words the results file's own check would use.
      if (open_errno == ENOENT || open_errno == ENOTDIR)
        DEEPRFM_THROW_ABOUT(input, "output",
                            "cannot create " << results_path << ": directory "
                                             << folder_of(results_path) << " does not exist");
      if (open_errno == EACCES || open_errno == EROFS || open_errno == EPERM)
        DEEPRFM_THROW_ABOUT(input, "output",
                            "cannot create files next to " << results_path << " (its lock file "
                                                           << path
                                                           << "): " << std::strerror(open_errno));
      DEEPRFM_THROW(resource,
                    "cannot create the lock file " << path << ": " << std::strerror(open_errno));
    }
    const int err = try_lock(fd);
    if (err == EACCES || err == EAGAIN) {
      const std::string holder = read_text(fd);
      ::close(fd);
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited < wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      DEEPRFM_THROW(input, results_path
                               << " is in use by another run ("
                               << (holder.empty() ? "it is starting" : holder) << "; waited "
                               << static_cast<int>(waited + 0.5)
                               << " s, DEEPRFM_LOCK_WAIT): two runs must not write one results "
                                  "file; wait until it ends, or write to another file");
    }
    if (err != 0) {
      ::close(fd);
      DEEPRFM_THROW(resource, "cannot lock " << path << ": " << std::strerror(err)
                                             << " (the file system does not support POSIX "
                                                "record locks; put the results on one that does)");
    }
    if (!same_file(fd, path)) {  // the previous holder removed it meanwhile: start again
      ::close(fd);
      ++attempt;
      continue;
    }
    const std::string text = RunLock::holder_text() + "\n";
    const bool written = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, text.data(), text.size(), 0) ==
                                                        static_cast<ssize_t>(text.size());
    if (!written) {
      const int write_errno = errno;
      ::unlink(path.c_str());
      ::close(fd);
      DEEPRFM_THROW(resource,
                    "cannot write the lock file " << path << ": " << std::strerror(write_errno));
    }
    return fd;
  }
  DEEPRFM_THROW(resource, "cannot take the lock " << path
                                                  << ": it is removed and created again all "
                                                     "the time");
}

}  // namespace

std::string RunLock::holder_text() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  std::ostringstream text;
  text << "host=" << host << " pid=" << ::getpid();
  if (const char* job = std::getenv("SLURM_JOB_ID"); job != nullptr && *job != '\0')
    text << " slurm_job=" << job;
  text << " since=" << now_iso8601();
  return text.str();
}

RunLock::RunLock(const std::string& results_path, const mpi::Communicator& comm)
    : lock_path_(results_path + ".lock") {
  mpi::run_agreed(comm, [&] {
    if (comm.rank() == 0) fd_ = acquire(lock_path_, results_path);
  });
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  // Removed while still locked: a run that opened the old file meanwhile finds, once it has
  // the lock, that the file is no longer the one at the path, and starts again.
  ::unlink(lock_path_.c_str());
  ::close(fd_);
}

}  // namespace deeprfm::store
