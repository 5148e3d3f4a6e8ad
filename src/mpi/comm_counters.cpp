// The counters of include/deeprfm/mpi/comm_counters.hpp. They only grow, and only the PMPI layer
// (src/instrument/pmpi_counters.cpp, a separate target) adds to them.
#include <deeprfm/mpi/comm_counters.hpp>

#include <atomic>

namespace deeprfm {

namespace {
std::atomic<std::uint64_t> g_bytes{0};
std::atomic<std::uint64_t> g_off_node_bytes{0};
std::atomic<std::uint64_t> g_calls{0};
// Written once inside MPI_Init, before any other MPI call can run; read-only after.
std::atomic<bool> g_ready{false};
std::vector<int> g_node_of_world;
int g_node_count = 0;
}  // namespace

namespace detail {

void record_comm(double bytes, double off_node_bytes) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  if (bytes > 0)
    g_bytes.fetch_add(static_cast<std::uint64_t>(bytes + 0.5), std::memory_order_relaxed);
  if (off_node_bytes > 0)
    g_off_node_bytes.fetch_add(static_cast<std::uint64_t>(off_node_bytes + 0.5),
                               std::memory_order_relaxed);
}

void publish_node_map(const std::vector<int>& node_of_world_rank) {
  g_node_of_world = node_of_world_rank;
  int nodes = 0;
  for (int n : g_node_of_world) nodes = n + 1 > nodes ? n + 1 : nodes;
  g_node_count = nodes;
  g_ready.store(true, std::memory_order_release);
}

}  // namespace detail

CommCounters comm_counters() {
  CommCounters c;
  c.bytes = g_bytes.load(std::memory_order_relaxed);
  c.off_node_bytes = g_off_node_bytes.load(std::memory_order_relaxed);
  c.calls = g_calls.load(std::memory_order_relaxed);
  return c;
}

std::uint64_t comm_bytes_sent() { return g_bytes.load(std::memory_order_relaxed); }

bool comm_counters_enabled() { return g_ready.load(std::memory_order_acquire); }

int comm_node_count() { return comm_counters_enabled() ? g_node_count : 0; }

int comm_node_of_world_rank(int world_rank) {
  if (!comm_counters_enabled() || world_rank < 0 ||
      world_rank >= static_cast<int>(g_node_of_world.size()))
    return -1;
  return g_node_of_world[static_cast<std::size_t>(world_rank)];
}

}  // namespace deeprfm
