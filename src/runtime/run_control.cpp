#include <deeprfm/runtime/run_control.hpp>

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <new>
#include <sstream>

#include <deeprfm/mpi/communicator.hpp>
#include <deeprfm/base/error.hpp>
#include <deeprfm/base/run_context.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/runtime/peer_watch.hpp>

namespace deeprfm {

namespace {
// Written by the signal handler: lock-free atomics are async-signal-safe.
std::atomic<int> g_signal{0};
std::atomic<std::int64_t> g_signal_ns{0};  // CLOCK_MONOTONIC of the first signal
std::atomic<bool> g_stop_now{false};
static_assert(std::atomic<int>::is_always_lock_free &&
              std::atomic<std::int64_t>::is_always_lock_free &&
              std::atomic<bool>::is_always_lock_free);

std::atomic<int> g_in_flight{0};
std::atomic<int> g_committed{-1};
std::atomic<int> g_commits_running{0};

std::int64_t monotonic_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

extern "C" void record_stop_signal(int signal) {
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, signal)) {
    g_signal_ns.store(monotonic_ns());
  } else if (signal == SIGTERM || signal == SIGINT) {
    g_stop_now.store(true);  // a second SIGTERM/SIGINT while a stop is pending: stop now
  }
}

constexpr int kStopSignals[] = {SIGTERM, SIGUSR1, SIGINT};
}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int s : kStopSignals) sigaction(s, &action, nullptr);
}

bool ensure_stop_handlers() {
  bool ours = true;
  for (int s : kStopSignals) {
    struct sigaction now {};
    sigaction(s, nullptr, &now);
    if ((now.sa_flags & SA_SIGINFO) != 0 || now.sa_handler != record_stop_signal) ours = false;
  }
  if (!ours) install_stop_handlers();
  return ours;
}

int received_stop_signal() { return g_signal.load(); }

bool stop_now_requested() { return g_stop_now.load(); }

int agreed_stop_signal(const mpi::Communicator& comm) {
  return static_cast<int>(comm.max(static_cast<std::int64_t>(g_signal.load())));
}

void stop_point(const mpi::Communicator& comm) {
  const int signal = agreed_stop_signal(comm);
  if (signal != 0) {
    note_orderly_stop();
    throw StopRequested(signal);
  }
}

// ---- time limits ----

double parse_deadline(const std::string& text) {
  auto number = [](const std::string& t, double& out) {
    if (t.empty()) return false;
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(t.c_str(), &end);
    if (errno != 0 || end == nullptr || *end != '\0' || !std::isfinite(v)) return false;
    out = v;
    return true;
  };
  double value = 0;
  if (text.empty()) {
    const char* env = std::getenv("SLURM_JOB_END_TIME");
    if (env != nullptr && number(env, value) && value > 0) return value;
    return 0;
  }
  if (text == "none") return 0;
  DEEPRFM_CHECK_ABOUT(number(text, value) && value >= 0, input, "deadline",
                      "deadline '" << text
                                   << "' is not a Unix time in seconds (e.g. $(date -d '+2 hours' "
                                      "+%s)), 0 or none");
  return value;
}

TimeLimits agree_time_limits(const TimeLimits& mine, const mpi::Communicator& comm) {
  double values[4] = {mine.deadline, mine.stop_margin, mine.stop_grace, mine.peer_timeout};
  comm.broadcast(values, 4, 0);
  TimeLimits out;
  out.deadline = values[0];
  out.stop_margin = values[1];
  out.stop_grace = values[2];
  out.peer_timeout = values[3];
  return out;
}

double unix_now() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double agreed_unix_now(const mpi::Communicator& comm) {
  double now = unix_now();
  comm.broadcast(&now, 1, 0);
  return now;
}

void set_progress(int in_flight, int committed) {
  g_in_flight.store(in_flight);
  g_committed.store(committed);
}

int committed_progress() { return g_committed.load(); }

namespace {
std::atomic<bool> g_orderly_stop{false};
}  // namespace

void note_orderly_stop() { g_orderly_stop.store(true); }

CommitInProgress::CommitInProgress() { g_commits_running.fetch_add(1); }
CommitInProgress::~CommitInProgress() { g_commits_running.fetch_sub(1); }

Watchdog::Watchdog(const TimeLimits& limits, WatchdogText text, int rank)
    : limits_(limits), text_(std::move(text)), rank_(rank) {
  thread_ = std::thread([this] { loop(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::loop() {
  // Never blocks on another rank: it reads atomics and the clocks, and at most writes to
  // stderr and calls _exit.
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(20));
    if (stopping_) return;
    const double now = unix_now();
    const int signal = g_signal.load();
    const double pending =
        signal != 0 ? 1e-9 * static_cast<double>(monotonic_ns() - g_signal_ns.load()) : 0.0;
    char reason[160] = "";
    if (limits_.deadline > 0 && deadline_armed_.load() &&
        now >= limits_.deadline - limits_.stop_margin)
      std::snprintf(reason, sizeof(reason), "time limit");
    else if (g_stop_now.load())
      std::snprintf(reason, sizeof(reason), "second stop signal");
    else if (signal != 0 && pending >= limits_.stop_grace)
      std::snprintf(reason, sizeof(reason),
                    "stop signal %d pending for %.0f s (the stop grace%s%s)", signal, pending,
                    text_.stop_grace_flag.empty() ? "" : ", ", text_.stop_grace_flag.c_str());
    if (reason[0] == '\0') continue;
    // Let a commit in progress finish, within bounds: half the time left before the deadline
    // (so the exit still comes before the kill), without a deadline at most --stop-grace.
    const double wait_until = limits_.deadline > 0
                                  ? now + std::max(0.0, 0.5 * (limits_.deadline - now))
                                  : now + limits_.stop_grace;
    while ((g_commits_running.load() > 0 || g_orderly_stop.load()) && unix_now() < wait_until &&
           !stopping_)
      wake_.wait_for(lock, std::chrono::milliseconds(5));
    if (stopping_) return;  // the main thread is leaving on its own: let it
    abandon(reason);        // holds mutex_: the destructor cannot stand the watchdog down now
  }
}

std::string abandonment_text(const WatchdogText& text) {
  char phase[64];
  run_phase_copy(phase, sizeof(phase));
  const int in_flight = g_in_flight.load(), committed = g_committed.load();
  const bool committing = g_commits_running.load() > 0;
  const char* unit = text.unit.c_str();
  const char* file = text.output.c_str();
  char what[160];
  if (in_flight > 0 && committing)
    std::snprintf(what, sizeof(what), "abandoning the commit of %s %d in flight", unit, in_flight);
  else if (in_flight > 0)
    std::snprintf(what, sizeof(what), "abandoning %s %d (phase %s) in flight", unit, in_flight,
                  phase[0] ? phase : "-");
  else
    std::snprintf(what, sizeof(what), "abandoning the run in phase %s", phase[0] ? phase : "-");
  char next[320] = "";
  if (!text.resume_flag.empty())
    std::snprintf(next, sizeof(next), "; continue with %s %s", text.resume_flag.c_str(), file);
  char kept[512];
  if (committed > 0)
    std::snprintf(kept, sizeof(kept), "the checkpoint after %s %d in %s is intact%s", unit,
                  committed, file, next);
  else if (committed == 0)
    std::snprintf(kept, sizeof(kept), "%s holds no complete %s yet%s", file, unit, next);
  else
    std::snprintf(kept, sizeof(kept), "no results file was written yet");
  return std::string(what) + "; " + kept;
}

void Watchdog::abandon(const char* reason) {
  announce_leaving();  // the peers must not report this rank as lost
  if (rank_ == 0) {
    const std::string line = text_.program + ": " + reason + ": " + abandonment_text(text_) + "\n";
    const ssize_t ignored = ::write(2, line.data(), line.size());
    (void)ignored;
  }
  // No MPI, no HDF5, no destructors: the last complete checkpoint on disk is the state.
  ::_exit(kExitStoppedBySignal);
}

TimePrediction predict_unit_seconds(int dim, const std::vector<UnitTiming>& done,
                                    const std::function<double(int)>& flops, double flop_rate) {
  TimePrediction p;
  const UnitTiming* same = nullptr;
  for (const auto& u : done)
    if (u.dim == dim && (same == nullptr || u.seconds > same->seconds)) same = &u;
  if (same != nullptr) {
    p.seconds = same->seconds;
    p.measured = true;
    p.basis = "measured";
    return p;
  }
  if (!done.empty()) {
    const UnitTiming& last = done.back();
    const double ratio = flops(dim) / std::max(flops(last.dim), 1.0);
    p.seconds = last.seconds * ratio;
    p.measured = true;
    p.basis = "scaled from layer " + std::to_string(last.index);
    return p;
  }
  p.seconds = flops(dim) / std::max(flop_rate, 1.0);
  p.measured = false;
  p.basis = "estimate from the flop count";
  return p;
}

double local_dgemm_rate(double seconds) {
  const int m = 256;
  std::vector<double> a(static_cast<std::size_t>(m) * m), b(a.size()), c(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    a[i] = 1.0 / static_cast<double>(1 + i % 97);
    b[i] = 1.0 / static_cast<double>(1 + i % 89);
  }
  const char nt = 'N';
  const double one = 1, zero = 0;
  double best = 1e300, total = 0;
  for (int r = 0; r < 1000 && (r < 2 || total < seconds); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    dgemm_(&nt, &nt, &m, &m, &m, &one, a.data(), &m, b.data(), &m, &zero, c.data(), &m);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, t);
    total += t;
  }
  return 2.0 * m * double(m) * m / std::max(best, 1e-9);
}

namespace {
double read_number_file(const char* path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return -1.0;
  try {
    return std::stod(word);
  } catch (...) {
    return -1.0;
  }
}

double mem_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  double value = 0;
  while (in >> key >> value >> unit)
    if (key == "MemAvailable:") return value * 1024.0;
  return -1.0;
}

double cgroup_free_bytes() {
  // cgroup v2, then v1.
  double limit = read_number_file("/sys/fs/cgroup/memory.max");
  double usage = read_number_file("/sys/fs/cgroup/memory.current");
  if (limit < 0) {
    limit = read_number_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    usage = read_number_file("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    if (limit > 1e18) limit = -1;  // "unlimited" in v1 is a huge number
  }
  if (limit < 0) return -1.0;
  return limit - std::max(usage, 0.0);
}
}  // namespace

double available_memory_per_rank(const mpi::Communicator& comm) {
  MPI_Comm node = MPI_COMM_NULL;
  mpi::check(
      MPI_Comm_split_type(comm.get(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node),
      "MPI_Comm_split_type");
  int on_node = 1;
  mpi::check(MPI_Comm_size(node, &on_node), "MPI_Comm_size");
  mpi::check(MPI_Comm_free(&node), "MPI_Comm_free");
  double avail = mem_available_bytes();
  const double cg = cgroup_free_bytes();
  if (cg >= 0 && (avail < 0 || cg < avail)) avail = cg;
  if (avail < 0) avail = 0;
  // Every rank must reach the same verdict: use the smallest over ranks.
  return comm.min(avail / on_node);
}

double peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux: kilobytes
}

double current_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  double pages_total = 0, pages_resident = 0;
  if (!(in >> pages_total >> pages_resident)) return 0.0;
  return pages_resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double parse_memory_size(const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (...) {
    DEEPRFM_THROW_ABOUT(input, "mem-limit",
                        "memory limit '" << text << "' is not a size (e.g. 8G, 512M)");
  }
  std::string unit = text.substr(used);
  double scale = 1;
  if (unit == "" || unit == "B")
    scale = 1;
  else if (unit == "K" || unit == "KiB" || unit == "k")
    scale = 1024.0;
  else if (unit == "M" || unit == "MiB")
    scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TiB")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else
    DEEPRFM_THROW_ABOUT(
        input, "mem-limit",
        "memory limit '" << text << "': unknown unit '" << unit << "' (use K, M, G, T)");
  DEEPRFM_CHECK_ABOUT(value > 0, input, "mem-limit",
                      "the memory limit must be positive, got '" << text << "'");
  return value * scale;
}

}  // namespace deeprfm
