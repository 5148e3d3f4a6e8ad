#include <deeprfm/runtime/peer_watch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <deeprfm/base/error.hpp>

namespace deeprfm {

namespace {

// The heartbeat file: a 64-byte header (the verdict, once a rank was found lost), then one
// 64-byte slot per rank that only that rank writes. Plain pread/pwrite of whole records, each
// through its own open/close, so that close-to-open consistency (NFS) makes a beat visible on
// other nodes; Lustre and GPFS are coherent anyway.
struct Slot {
  std::uint64_t beats;   // incremented at every beat
  std::int32_t pid;      // of the rank's process
  std::int32_t state;    // kSlot*
  char host[40];         // gethostname, truncated
  std::uint64_t pid_ns;  // inode of /proc/self/ns/pid: a pid is checked only in the same one
};
struct Verdict {
  char magic[8];          // "DRFMBEAT"
  std::int32_t lost;      // lost rank + 1; 0 = none
  std::int32_t pid;       // its pid
  std::int32_t reason;    // kReason*
  std::int32_t reporter;  // the rank that found it
  char host[40];          // its host
};
static_assert(sizeof(Slot) == 64 && sizeof(Verdict) == 64);

constexpr std::int32_t kSlotRunning = 1;
constexpr std::int32_t kSlotLeaving = 2;   // finished, or ending on purpose: not lost
constexpr std::int32_t kSlotReported = 3;  // leaving after printing the verdict
constexpr std::int32_t kReasonSilent = 1;
constexpr std::int32_t kReasonEnded = 2;
constexpr char kMagic[8] = {'D', 'R', 'F', 'M', 'B', 'E', 'A', 'T'};

// For announce_leaving(), which may run on any thread: set before the watch thread starts,
// cleared (offset -1) before the file goes away.
char g_path[4096];
std::atomic<long> g_slot_offset{-1};
std::atomic<bool> g_leaving{false};
Slot g_own{};  // written only before the thread starts; beats copied per write

double monotonic_seconds() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

bool write_record(const char* path, long offset, const void* record) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::pwrite(fd, record, 64, offset) == 64;
  return (::close(fd) == 0) && ok;
}

std::uint64_t own_pid_namespace() {
  struct stat st {};
  if (::stat("/proc/self/ns/pid", &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_ino);
}

// True if `pid` (in this pid namespace) no longer runs: absent, a zombie, or dead.
bool process_ended(std::int32_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  std::ifstream in(path);
  if (!in) return true;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos || close + 2 >= text.size()) return false;
  const char state = text[close + 2];
  return state == 'Z' || state == 'X' || state == 'x';
}

std::string seconds_words(double s) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", s);
  return buffer;
}

}  // namespace

std::string heartbeat_path(const std::string& output) { return output + ".heartbeat"; }

double heartbeat_interval(double timeout) { return std::clamp(timeout / 20.0, 0.25, 5.0); }

void announce_leaving() {
  g_leaving.store(true);
  const long offset = g_slot_offset.load();
  if (offset < 0) return;
  Slot slot = g_own;
  slot.state = kSlotLeaving;
  write_record(g_path, offset, &slot);
}

PeerWatch::PeerWatch(const std::string& output, double timeout, WatchdogText text,
                     const mpi::Communicator& comm)
    : path_(heartbeat_path(output)),
      timeout_(timeout),
      interval_(heartbeat_interval(timeout)),
      text_(std::move(text)),
      rank_(comm.rank()),
      size_(comm.size()) {
  if (timeout_ <= 0 || size_ < 2) return;
  DEEPRFM_CHECK(path_.size() < sizeof(g_path), input,
                "the heartbeat file name " << path_ << " is too long");
  // Rank 0 creates the file (the run lock is held: nobody else uses this name), sized for every
  // slot; a leftover of a crashed run is truncated.
  mpi::run_agreed(comm, [&] {
    if (rank_ != 0) return;
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    DEEPRFM_CHECK(fd >= 0, resource,
                  "cannot create the heartbeat file " << path_ << ": " << std::strerror(errno));
    Verdict header{};
    std::memcpy(header.magic, kMagic, sizeof(kMagic));
    const off_t size = static_cast<off_t>(64) * (size_ + 1);
    const bool ok = ::ftruncate(fd, size) == 0 && ::pwrite(fd, &header, 64, 0) == 64;
    const int err = errno;
    ::close(fd);
    DEEPRFM_CHECK(ok, resource,
                  "cannot write the heartbeat file " << path_ << ": " << std::strerror(err));
  });
  char host[64] = "";
  ::gethostname(host, sizeof(host) - 1);
  host_ = host;
  g_own = Slot{};
  g_own.pid = static_cast<std::int32_t>(::getpid());
  g_own.state = kSlotRunning;
  std::snprintf(g_own.host, sizeof(g_own.host), "%s", host);
  g_own.pid_ns = own_pid_namespace();
  std::snprintf(g_path, sizeof(g_path), "%s", path_.c_str());
  g_leaving.store(false);
  // Every slot names its rank's host and pid before anyone judges it.
  mpi::run_agreed(comm, [&] {
    DEEPRFM_CHECK(write_record(g_path, 64L * (rank_ + 1), &g_own), resource,
                  "cannot write the heartbeat file " << path_ << ": " << std::strerror(errno));
  });
  g_slot_offset.store(64L * (rank_ + 1));
  thread_ = std::thread([this] { loop(); });
}

PeerWatch::~PeerWatch() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  announce_leaving();  // finished: not lost
  g_slot_offset.store(-1);
  if (rank_ == 0) ::unlink(path_.c_str());
}

bool PeerWatch::read_all(std::vector<char>& buffer) {
  buffer.resize(static_cast<std::size_t>(64) * (size_ + 1));
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t got = ::pread(fd, buffer.data(), buffer.size(), 0);
  ::close(fd);
  return got == static_cast<ssize_t>(buffer.size()) &&
         std::memcmp(buffer.data(), kMagic, sizeof(kMagic)) == 0;
}

void PeerWatch::write_slot(int state) {
  Slot slot = g_own;
  slot.beats = beats_;
  slot.state = state;
  write_record(path_.c_str(), 64L * (rank_ + 1), &slot);
}

void PeerWatch::loop() {
  // Never calls MPI: it beats, reads the file, and at most writes to stderr and calls _exit.
  std::vector<char> buffer;
  std::vector<std::uint64_t> seen(size_, 0);
  std::vector<double> changed(size_, monotonic_seconds());
  // A watcher judges only time it observed itself: after a gap in its own polls (its thread or
  // the file system stalled, or this process was stopped) it starts every peer's clock again.
  const double gap = std::max(3 * interval_, 0.25 * timeout_);
  double last_poll = monotonic_seconds();
  bool reset = true;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::duration<double>(interval_));
    if (stopping_) return;
    if (g_leaving.load()) continue;  // this rank ends on purpose: stand down
    ++beats_;
    write_slot(kSlotRunning);
    const bool ok = read_all(buffer);
    const double now = monotonic_seconds();
    if (!ok) {
      reset = true;
      continue;
    }
    if (reset || now - last_poll > gap) std::fill(changed.begin(), changed.end(), now);
    reset = false;
    last_poll = now;
    Verdict verdict{};
    std::memcpy(&verdict, buffer.data(), 64);
    if (verdict.lost > 0) leave(verdict.lost - 1);
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      Slot slot{};
      std::memcpy(&slot, buffer.data() + 64L * (r + 1), 64);
      if (slot.state == kSlotLeaving || slot.state == kSlotReported) continue;
      if (slot.beats != seen[r]) {
        seen[r] = slot.beats;
        changed[r] = now;
      }
      std::int32_t reason = 0;
      if (slot.pid > 0 && slot.pid_ns == g_own.pid_ns &&
          std::strncmp(slot.host, g_own.host, sizeof(slot.host)) == 0 && process_ended(slot.pid))
        reason = kReasonEnded;
      else if (now - changed[r] > timeout_)
        reason = kReasonSilent;
      if (reason == 0) continue;
      // Confirm on a fresh read before acting: this thread may itself have been stopped since
      // its read (a SIGSTOPped rank is continued by the launcher once the others have left),
      // and the peer may meanwhile have left on purpose or another rank given the verdict.
      std::vector<char> fresh;
      if (!read_all(fresh) || monotonic_seconds() - now > gap) {
        reset = true;
        break;
      }
      std::memcpy(&verdict, fresh.data(), 64);
      if (verdict.lost > 0) leave(verdict.lost - 1);
      std::memcpy(&slot, fresh.data() + 64L * (r + 1), 64);
      if (slot.state == kSlotLeaving || slot.state == kSlotReported ||
          (reason == kReasonSilent && slot.beats != seen[r]))
        continue;
      verdict.lost = r + 1;
      verdict.pid = slot.pid;
      verdict.reason = reason;
      verdict.reporter = rank_;
      std::memcpy(verdict.host, slot.host, sizeof(verdict.host));
      write_record(path_.c_str(), 0, &verdict);
      leave(r);
    }
  }
}

void PeerWatch::leave(int lost) {
  // One line, from the lowest rank that is not the lost one: rank 0, or rank 1 if rank 0 is
  // lost. The others wait until it has printed, so that the launcher, which ends every rank once
  // one exits, does not cut it short: for as long as it keeps beating (it sees the verdict at
  // its next poll; at most --peer-timeout), or 3 intervals + 2 s after its last beat.
  const int printer = lost == 0 ? 1 : 0;
  std::vector<char> buffer;
  if (rank_ != printer) {
    write_slot(kSlotLeaving);
    const double start = monotonic_seconds();
    double last_beat = start;
    std::uint64_t beats = 0;
    bool printed = false;
    for (;;) {
      ::usleep(50000);
      const double now = monotonic_seconds();
      if (read_all(buffer)) {
        Slot slot{};
        std::memcpy(&slot, buffer.data() + 64L * (printer + 1), 64);
        printed = slot.state == kSlotReported;
        if (slot.beats != beats) {
          beats = slot.beats;
          last_beat = now;
        }
      }
      if (printed || now - last_beat > 3 * interval_ + 2.0 ||
          now - start > std::max(timeout_, 3 * interval_ + 2.0))
        break;
    }
    if (printed) ::_exit(kExitStoppedBySignal);
    // The printer did not answer (lost as well?): say it here rather than not at all.
  } else {
    write_slot(kSlotReported);
  }
  Verdict verdict{};
  if (buffer.empty() && !read_all(buffer)) buffer.assign(128, 0);
  std::memcpy(&verdict, buffer.data(), 64);
  char host[sizeof(verdict.host) + 1] = "";
  std::memcpy(host, verdict.host, sizeof(verdict.host));
  const std::string why =
      verdict.reason == kReasonEnded
          ? std::string("its process ended (killed, e.g. by SIGKILL or the OOM killer)")
          : "no heartbeat for more than " + seconds_words(timeout_) +
                " s (--peer-timeout): it is stopped, hung in the kernel, or its node is lost";
  const std::string line = text_.program + ": rank " + std::to_string(lost) + " (host " +
                           (host[0] ? host : "?") + ", pid " + std::to_string(verdict.pid) +
                           ") is lost: " + why + "; " + abandonment_text(text_) + "\n";
  const ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
  // No MPI, no HDF5, no destructors: the last complete checkpoint on disk is the state.
  ::_exit(kExitStoppedBySignal);
}

}  // namespace deeprfm
