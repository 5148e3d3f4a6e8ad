#include <deeprfm/core/run_control.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <new>
#include <sstream>

#include <deeprfm/core/error.hpp>

namespace deeprfm {

namespace {
int g_layer = -1;
std::string g_phase;
volatile std::sig_atomic_t g_signal = 0;

extern "C" void record_stop_signal(int signal) { g_signal = signal; }
}  // namespace

void set_run_context(int layer, const std::string& phase) {
  g_layer = layer;
  g_phase = phase;
}

std::string run_context() {
  if (g_layer < 0) return g_phase.empty() ? "" : "phase " + g_phase;
  return "layer " + std::to_string(g_layer + 1) + (g_phase.empty() ? "" : ", phase " + g_phase);
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

int received_stop_signal() { return g_signal; }

int agreed_stop_signal(const mpi::Communicator& comm) {
  return static_cast<int>(comm.max(static_cast<std::int64_t>(g_signal)));
}

void stop_point(const mpi::Communicator& comm) {
  const int signal = agreed_stop_signal(comm);
  if (signal != 0) throw StopRequested(signal);
}

namespace {
struct FaultSpec {
  bool active = false;
  std::string kind;
  int rank = 0;
  int layer = -1;     // 1-based; -1 = any
  std::string phase;  // "" = any
};

FaultSpec parse_fault() {
  FaultSpec spec;
  const char* env = std::getenv("DEEPRFM_FAULT");
  if (env == nullptr || *env == '\0') return spec;
  // KIND@RANK:LAYER:PHASE
  std::string text(env);
  const auto at = text.find('@');
  const auto c1 = text.find(':', at == std::string::npos ? 0 : at);
  const auto c2 = c1 == std::string::npos ? std::string::npos : text.find(':', c1 + 1);
  DEEPRFM_CHECK(at != std::string::npos && c1 != std::string::npos && c2 != std::string::npos,
                input, "DEEPRFM_FAULT='" << text << "' is not KIND@RANK:LAYER:PHASE");
  spec.kind = text.substr(0, at);
  spec.rank = std::stoi(text.substr(at + 1, c1 - at - 1));
  const std::string layer = text.substr(c1 + 1, c2 - c1 - 1);
  spec.layer = layer == "*" ? -1 : std::stoi(layer);
  spec.phase = text.substr(c2 + 1);
  if (spec.phase == "*") spec.phase.clear();
  spec.active = true;
  return spec;
}

const FaultSpec& fault_spec() {
  static const FaultSpec spec = parse_fault();
  return spec;
}
}  // namespace

bool fault_requested(const char* kind, int layer, const char* phase, int rank) {
  const FaultSpec& f = fault_spec();
  if (!f.active || f.kind != kind || f.rank != rank) return false;
  if (f.layer >= 0 && f.layer != layer + 1) return false;
  if (!f.phase.empty() && f.phase != phase) return false;
  return true;
}

bool fault_requested_in_context(const char* kind, int rank) {
  return fault_requested(kind, g_layer, g_phase.c_str(), rank);
}

void inject_fault_point(int layer, const char* phase, int rank) {
  if (fault_requested("input", layer, phase, rank))
    DEEPRFM_THROW(input, "injected input failure (DEEPRFM_FAULT)");
  if (fault_requested("alloc", layer, phase, rank)) throw std::bad_alloc();
  if (fault_requested("hdf5", layer, phase, rank))
    DEEPRFM_THROW(resource, "HDF5 write failed (injected by DEEPRFM_FAULT)");
  if (fault_requested("sleep", layer, phase, rank)) {
    // Test-only: hold this rank here so that a test can kill the job inside this phase.
    std::fprintf(stderr, "deeprfm: DEEPRFM_FAULT sleep in layer %d, phase %s\n", layer + 1, phase);
    std::fflush(stderr);
    ::sleep(60);
  }
  if (fault_requested("crash", layer, phase, rank))
    throw std::runtime_error("injected crash outside any agreement point (DEEPRFM_FAULT)");
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
  MPI_Comm_split_type(comm.get(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node);
  int on_node = 1;
  MPI_Comm_size(node, &on_node);
  MPI_Comm_free(&node);
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
    DEEPRFM_THROW(input, "--mem-limit '" << text << "' is not a size (e.g. 8G, 512M)");
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
    DEEPRFM_THROW(input,
                  "--mem-limit '" << text << "': unknown unit '" << unit << "' (use K, M, G, T)");
  DEEPRFM_CHECK(value > 0, input, "--mem-limit must be positive, got '" << text << "'");
  return value * scale;
}

}  // namespace deeprfm
