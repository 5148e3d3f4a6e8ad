// Bytes communicated per rank through the MPI profiling interface: each MPI_* entry point below
// counts (see include/deeprfm/mpi/comm_counters.hpp for what is counted) and forwards to its
// PMPI_* twin, adding to the library's counters (src/mpi/comm_counters.cpp) through
// deeprfm::detail::record_comm. This file is its own target, deeprfm::pmpi_counters (an object
// library): only the programs that link it (deeprfm's executables and the counter tests) count;
// the library alone reports zeros and comm_counters_enabled() == false. In an executable the
// definitions take precedence over libmpi's, and the linker exports them to the shared
// libraries that call MPI (libscalapack, libhdf5), which therefore call these too.
//
// Off-node bytes need, per call, whether the destination (or what share of the other ranks) is
// on another node. MPI_Init(_thread), intercepted too, builds the node of every world rank once
// (the only collective, at a point where every rank is). Per communicator, a CommInfo (size,
// rank, an off-node flag per destination rank and the off-node share of the other ranks) is
// built on first use with local calls only (group translation to MPI_COMM_WORLD) and cached on
// the communicator as an MPI attribute whose delete callback frees it: a communicator that is
// freed and whose handle is reused starts without one, so the cache can never be stale. In
// front of it, a per-thread list of the last 4 communicators, emptied whenever any CommInfo is
// deleted. The per-call cost: a pointer comparison on MPI_COMM_WORLD, a short scan on a recent
// communicator, at most one attribute lookup (Open MPI: a hash lookup) otherwise.
#include <deeprfm/mpi/comm_counters.hpp>

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace deeprfm {

namespace {

/// What a counted call needs to know about its communicator. Immutable once built.
struct CommInfo {
  int size = 1;          ///< local group size (what the collective formulas call p)
  int rank = 0;          ///< this rank in the local group
  bool inter = false;    ///< intercommunicator: destinations are ranks of the remote group
  double off_share = 0;  ///< off-node share of the other ranks: q/(p-1) (remote: q/remote size)
  std::vector<unsigned char> off;  ///< per destination rank: 1 if on another node
};

// Written once inside MPI_Init(_thread), before any other MPI call can run; read-only after,
// until MPI_Finalize clears g_ready (teardown_node_map).
bool g_ready = false;
std::vector<int> g_node_of_world;  // node index of each world rank
int g_node_count = 0;
MPI_Group g_world_group = MPI_GROUP_NULL;
int g_keyval = MPI_KEYVAL_INVALID;
CommInfo g_world_info;
std::mutex g_build_mutex;  // serialises the (rare) building and attaching of a CommInfo

// In front of the attribute lookup, each thread remembers the last few communicators it
// counted on (BLACS alternates between its row, column and all communicators). Any CommInfo's
// deletion, i.e. any freeing of a communicator that had one, bumps the generation, which
// empties every thread's entries before their next use: a freed handle that MPI hands out again
// cannot hit a stale entry.
std::atomic<std::uint64_t> g_generation{0};
constexpr int kRecent = 4;
struct Recent {
  MPI_Comm comm = MPI_COMM_NULL;
  const CommInfo* info = nullptr;
};
thread_local Recent t_recent[kRecent];
thread_local std::uint64_t t_generation = 0;
thread_local int t_next = 0;

int delete_info(MPI_Comm, int, void* value, void*) {
  g_generation.fetch_add(1, std::memory_order_acq_rel);
  delete static_cast<CommInfo*>(value);
  return MPI_SUCCESS;
}

const CommInfo* info_from_attribute(MPI_Comm comm);

/// CommInfo of a communicator from its group(s) and the node map. Local (no communication).
CommInfo build_info(MPI_Comm comm) {
  CommInfo info;
  int inter = 0;
  PMPI_Comm_test_inter(comm, &inter);
  info.inter = inter != 0;
  PMPI_Comm_size(comm, &info.size);
  PMPI_Comm_rank(comm, &info.rank);
  MPI_Group group = MPI_GROUP_NULL;
  if (info.inter)
    PMPI_Comm_remote_group(comm, &group);
  else
    PMPI_Comm_group(comm, &group);
  int n = 0;
  PMPI_Group_size(group, &n);
  std::vector<int> ranks(static_cast<std::size_t>(n)), world(static_cast<std::size_t>(n));
  for (int j = 0; j < n; ++j) ranks[static_cast<std::size_t>(j)] = j;
  PMPI_Group_translate_ranks(group, n, ranks.data(), g_world_group, world.data());
  PMPI_Group_free(&group);
  int me = 0;
  PMPI_Comm_rank(MPI_COMM_WORLD, &me);
  const int my_node = g_node_of_world[static_cast<std::size_t>(me)];
  info.off.assign(static_cast<std::size_t>(n), 0);
  int others = 0, off = 0;
  for (int j = 0; j < n; ++j) {
    const int w = world[static_cast<std::size_t>(j)];
    const bool is_off =
        w == MPI_UNDEFINED || g_node_of_world[static_cast<std::size_t>(w)] != my_node;
    info.off[static_cast<std::size_t>(j)] = is_off ? 1 : 0;
    if (info.inter || j != info.rank) {
      ++others;
      off += is_off ? 1 : 0;
    }
  }
  info.off_share = others > 0 ? static_cast<double>(off) / others : 0.0;
  return info;
}

/// The cached CommInfo of `comm`, built on first use; nullptr before the node map exists or
/// if MPI refuses the attribute (an invalid communicator: the forwarded call reports it).
const CommInfo* info_of(MPI_Comm comm) {
  if (!g_ready) return nullptr;
  if (comm == MPI_COMM_WORLD) return &g_world_info;
  const std::uint64_t generation = g_generation.load(std::memory_order_acquire);
  if (t_generation != generation) {
    for (auto& r : t_recent) r = Recent{};
    t_generation = generation;
  }
  for (const auto& r : t_recent)
    if (r.comm == comm && r.info != nullptr) return r.info;
  const CommInfo* info = info_from_attribute(comm);
  if (info != nullptr) {
    t_recent[t_next] = {comm, info};
    t_next = (t_next + 1) % kRecent;
  }
  return info;
}

/// The CommInfo attached to `comm`, attached now if it has none. Local.
const CommInfo* info_from_attribute(MPI_Comm comm) {
  void* value = nullptr;
  int found = 0;
  if (PMPI_Comm_get_attr(comm, g_keyval, &value, &found) != MPI_SUCCESS) return nullptr;
  if (found) return static_cast<const CommInfo*>(value);
  // Another thread may be attaching one to the same communicator: look again under the lock
  // (setting it twice would run the delete callback on a CommInfo the other thread is using).
  std::lock_guard<std::mutex> lock(g_build_mutex);
  if (PMPI_Comm_get_attr(comm, g_keyval, &value, &found) != MPI_SUCCESS) return nullptr;
  if (found) return static_cast<const CommInfo*>(value);
  auto* info = new CommInfo(build_info(comm));
  if (PMPI_Comm_set_attr(comm, g_keyval, info) != MPI_SUCCESS) {
    delete info;
    return nullptr;
  }
  return info;
}

[[noreturn]] void bad_override(const char* value, int world_size, const char* why) {
  std::fprintf(stderr,
               "deeprfm: DEEPRFM_TEST_NODE_OF_RANK=\"%s\" (test-only) must list one node index >= "
               "0 per world rank (%d), separated by commas: %s\n",
               value, world_size, why);
  std::fflush(stderr);
  PMPI_Abort(MPI_COMM_WORLD, 2);
  std::abort();
}

/// Node id of every world rank from the test override, or an empty vector without it.
std::vector<int> node_ids_from_override(int world_size) {
  const char* value = std::getenv("DEEPRFM_TEST_NODE_OF_RANK");
  if (value == nullptr) return {};
  std::vector<int> ids;
  const std::string s(value);
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t comma = std::min(s.find(',', pos), s.size());
    const std::string item = s.substr(pos, comma - pos);
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0 || v > 1000000)
      bad_override(value, world_size, "not a non-negative integer");
    ids.push_back(static_cast<int>(v));
    pos = comma + 1;
  }
  if (static_cast<int>(ids.size()) != world_size)
    bad_override(value, world_size, "wrong number of entries");
  return ids;
}

/// Node id of every world rank: the world rank of the first rank of its shared-memory node.
/// Collective over MPI_COMM_WORLD (PMPI_ calls only: not counted).
std::vector<int> node_ids_from_shared_memory(int world_size) {
  MPI_Comm node = MPI_COMM_NULL;
  PMPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Group node_group = MPI_GROUP_NULL;
  PMPI_Comm_group(node, &node_group);
  const int first = 0;
  int leader = 0;
  PMPI_Group_translate_ranks(node_group, 1, &first, g_world_group, &leader);
  PMPI_Group_free(&node_group);
  PMPI_Comm_free(&node);
  std::vector<int> ids(static_cast<std::size_t>(world_size));
  PMPI_Allgather(&leader, 1, MPI_INT, ids.data(), 1, MPI_INT, MPI_COMM_WORLD);
  return ids;
}

/// Builds the node map and the communicator cache. Collective over MPI_COMM_WORLD; called once,
/// right after MPI is initialised.
void setup_node_map() {
  int world_size = 1;
  PMPI_Comm_size(MPI_COMM_WORLD, &world_size);
  PMPI_Comm_group(MPI_COMM_WORLD, &g_world_group);
  std::vector<int> ids = node_ids_from_override(world_size);
  if (ids.empty()) ids = node_ids_from_shared_memory(world_size);
  // Dense indices in order of first appearance, so that node 0 holds world rank 0.
  std::vector<int> dense_of_id;  // pairs (id, index), linear: there are few nodes per job
  g_node_of_world.resize(ids.size());
  for (std::size_t r = 0; r < ids.size(); ++r) {
    int index = -1;
    for (std::size_t k = 0; k < dense_of_id.size(); ++k)
      if (dense_of_id[k] == ids[r]) index = static_cast<int>(k);
    if (index < 0) {
      index = static_cast<int>(dense_of_id.size());
      dense_of_id.push_back(ids[r]);
    }
    g_node_of_world[r] = index;
  }
  g_node_count = static_cast<int>(dense_of_id.size());
  PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_info, &g_keyval, nullptr);
  g_ready = true;  // build_info below needs the node map
  g_world_info = build_info(MPI_COMM_WORLD);
  detail::publish_node_map(g_node_of_world);
}

/// Frees what setup_node_map created in MPI (the attribute keyval, the world group); from then on
/// nothing is counted. Local; called once, right before MPI is finalised. Attributes still
/// attached keep their delete callback, which MPI runs when it frees their communicators.
void teardown_node_map() {
  g_ready = false;
  if (g_keyval != MPI_KEYVAL_INVALID) PMPI_Comm_free_keyval(&g_keyval);
  if (g_world_group != MPI_GROUP_NULL) PMPI_Group_free(&g_world_group);
}

void count(double bytes, double off_node_bytes) { detail::record_comm(bytes, off_node_bytes); }

double type_bytes(MPI_Datatype type) {
  MPI_Count size = 0;
  if (type == MPI_DATATYPE_NULL || PMPI_Type_size_x(type, &size) != MPI_SUCCESS) return 0.0;
  return static_cast<double>(size);
}

/// Size and rank of a communicator, from its CommInfo when there is one.
struct SizeRank {
  const CommInfo* info;
  int size;
  int rank;
};

SizeRank size_rank(MPI_Comm comm) {
  const CommInfo* info = info_of(comm);
  if (info != nullptr) return {info, info->size, info->rank};
  int size = 1, rank = -1;
  if (PMPI_Comm_size(comm, &size) != MPI_SUCCESS) size = 1;
  if (PMPI_Comm_rank(comm, &rank) != MPI_SUCCESS) rank = -1;
  return {nullptr, size, rank};
}

/// A collective's bytes and their off-node share (the model of the header).
void count_collective(const SizeRank& c, double bytes) {
  count(bytes, c.info != nullptr ? bytes * c.info->off_share : 0.0);
}

/// A point-to-point send: counted unless it goes nowhere or to this rank itself; off-node
/// exactly when the destination is on another node.
void count_send(int count_, MPI_Datatype type, int dest, MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  const bool inter = c.info != nullptr && c.info->inter;
  if (dest == MPI_PROC_NULL || (!inter && dest == c.rank)) {
    count(0.0, 0.0);
    return;
  }
  const double bytes = count_ * type_bytes(type);
  const bool off = c.info != nullptr && dest >= 0 && dest < static_cast<int>(c.info->off.size()) &&
                   c.info->off[static_cast<std::size_t>(dest)] != 0;
  count(bytes, off ? bytes : 0.0);
}

/// Share of a rooted or symmetric collective: factor * m * (p-1)/p.
void count_shared(double factor, int count_, MPI_Datatype type, MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  const int p = c.size;
  count_collective(c, p > 1 ? factor * count_ * type_bytes(type) * (p - 1) / p : 0.0);
}

}  // namespace

}  // namespace deeprfm

using deeprfm::count_collective;
using deeprfm::count_send;
using deeprfm::count_shared;
using deeprfm::size_rank;
using deeprfm::SizeRank;
using deeprfm::type_bytes;

extern "C" {

// ---- initialisation and finalisation: the node map ----

int MPI_Init(int* argc, char*** argv) {
  const int rc = PMPI_Init(argc, argv);
  if (rc == MPI_SUCCESS) deeprfm::setup_node_map();
  return rc;
}

int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  const int rc = PMPI_Init_thread(argc, argv, required, provided);
  if (rc == MPI_SUCCESS) deeprfm::setup_node_map();
  return rc;
}

int MPI_Finalize(void) {
  deeprfm::teardown_node_map();
  return PMPI_Finalize();
}

// ---- point to point ----

int MPI_Send(const void* buf, int count_, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {
  count_send(count_, type, dest, comm);
  return PMPI_Send(buf, count_, type, dest, tag, comm);
}

int MPI_Rsend(const void* buf, int count_, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {
  count_send(count_, type, dest, comm);
  return PMPI_Rsend(buf, count_, type, dest, tag, comm);
}

int MPI_Ssend(const void* buf, int count_, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {
  count_send(count_, type, dest, comm);
  return PMPI_Ssend(buf, count_, type, dest, tag, comm);
}

int MPI_Bsend(const void* buf, int count_, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {
  count_send(count_, type, dest, comm);
  return PMPI_Bsend(buf, count_, type, dest, tag, comm);
}

int MPI_Isend(const void* buf, int count_, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
              MPI_Request* request) {
  count_send(count_, type, dest, comm);
  return PMPI_Isend(buf, count_, type, dest, tag, comm, request);
}

int MPI_Irsend(const void* buf, int count_, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
               MPI_Request* request) {
  count_send(count_, type, dest, comm);
  return PMPI_Irsend(buf, count_, type, dest, tag, comm, request);
}

int MPI_Issend(const void* buf, int count_, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
               MPI_Request* request) {
  count_send(count_, type, dest, comm);
  return PMPI_Issend(buf, count_, type, dest, tag, comm, request);
}

int MPI_Ibsend(const void* buf, int count_, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
               MPI_Request* request) {
  count_send(count_, type, dest, comm);
  return PMPI_Ibsend(buf, count_, type, dest, tag, comm, request);
}

int MPI_Sendrecv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag,
                 void* recvbuf, int recvcount, MPI_Datatype recvtype, int source, int recvtag,
                 MPI_Comm comm, MPI_Status* status) {
  count_send(sendcount, sendtype, dest, comm);
  return PMPI_Sendrecv(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount, recvtype,
                       source, recvtag, comm, status);
}

int MPI_Sendrecv_replace(void* buf, int count_, MPI_Datatype type, int dest, int sendtag,
                         int source, int recvtag, MPI_Comm comm, MPI_Status* status) {
  count_send(count_, type, dest, comm);
  return PMPI_Sendrecv_replace(buf, count_, type, dest, sendtag, source, recvtag, comm, status);
}

// ---- collectives ----

int MPI_Bcast(void* buffer, int count_, MPI_Datatype type, int root, MPI_Comm comm) {
  count_shared(1.0, count_, type, comm);
  return PMPI_Bcast(buffer, count_, type, root, comm);
}

int MPI_Reduce(const void* sendbuf, void* recvbuf, int count_, MPI_Datatype type, MPI_Op op,
               int root, MPI_Comm comm) {
  count_shared(1.0, count_, type, comm);
  return PMPI_Reduce(sendbuf, recvbuf, count_, type, op, root, comm);
}

int MPI_Allreduce(const void* sendbuf, void* recvbuf, int count_, MPI_Datatype type, MPI_Op op,
                  MPI_Comm comm) {
  count_shared(2.0, count_, type, comm);
  return PMPI_Allreduce(sendbuf, recvbuf, count_, type, op, comm);
}

int MPI_Reduce_scatter_block(const void* sendbuf, void* recvbuf, int recvcount, MPI_Datatype type,
                             MPI_Op op, MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  const int p = c.size;
  count_collective(c, p > 1 ? double(recvcount) * p * type_bytes(type) * (p - 1) / p : 0.0);
  return PMPI_Reduce_scatter_block(sendbuf, recvbuf, recvcount, type, op, comm);
}

int MPI_Reduce_scatter(const void* sendbuf, void* recvbuf, const int recvcounts[],
                       MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
  // Bandwidth-optimal (ring / pairwise): every block except my own leaves this rank once.
  const SizeRank c = size_rank(comm);
  const double size = type_bytes(type);
  double total = 0.0;
  for (int j = 0; j < c.size; ++j)
    if (j != c.rank) total += recvcounts[j] * size;
  count_collective(c, total);
  return PMPI_Reduce_scatter(sendbuf, recvbuf, recvcounts, type, op, comm);
}

int MPI_Allgather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                  int recvcount, MPI_Datatype recvtype, MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  const double block =
      sendbuf == MPI_IN_PLACE ? recvcount * type_bytes(recvtype) : sendcount * type_bytes(sendtype);
  count_collective(c, block * (c.size - 1));
  return PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Allgatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                   const int recvcounts[], const int displs[], MPI_Datatype recvtype,
                   MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  const double block = sendbuf == MPI_IN_PLACE
                           ? (c.rank >= 0 ? recvcounts[c.rank] : 0) * type_bytes(recvtype)
                           : sendcount * type_bytes(sendtype);
  count_collective(c, block * (c.size - 1));
  return PMPI_Allgatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, comm);
}

int MPI_Alltoall(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                 int recvcount, MPI_Datatype recvtype, MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  const double block =
      sendbuf == MPI_IN_PLACE ? recvcount * type_bytes(recvtype) : sendcount * type_bytes(sendtype);
  count_collective(c, block * (c.size - 1));
  return PMPI_Alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Alltoallv(const void* sendbuf, const int sendcounts[], const int sdispls[],
                  MPI_Datatype sendtype, void* recvbuf, const int recvcounts[], const int rdispls[],
                  MPI_Datatype recvtype, MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  const bool in_place = sendbuf == MPI_IN_PLACE;
  const int* counts = in_place ? recvcounts : sendcounts;
  const double size = type_bytes(in_place ? recvtype : sendtype);
  double total = 0.0;
  for (int j = 0; j < c.size; ++j)
    if (j != c.rank) total += counts[j] * size;
  count_collective(c, total);
  return PMPI_Alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls,
                        recvtype, comm);
}

int MPI_Gather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
               int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  count_collective(c, c.rank == root ? 0.0 : sendcount * type_bytes(sendtype));
  return PMPI_Gather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
}

int MPI_Gatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                const int recvcounts[], const int displs[], MPI_Datatype recvtype, int root,
                MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  count_collective(c, c.rank == root ? 0.0 : sendcount * type_bytes(sendtype));
  return PMPI_Gatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, root,
                      comm);
}

int MPI_Scatter(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  count_collective(c, c.rank == root ? sendcount * type_bytes(sendtype) * (c.size - 1) : 0.0);
  return PMPI_Scatter(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
}

int MPI_Scatterv(const void* sendbuf, const int sendcounts[], const int displs[],
                 MPI_Datatype sendtype, void* recvbuf, int recvcount, MPI_Datatype recvtype,
                 int root, MPI_Comm comm) {
  const SizeRank c = size_rank(comm);
  double total = 0.0;
  if (c.rank == root) {
    const double size = type_bytes(sendtype);
    for (int j = 0; j < c.size; ++j)
      if (j != root) total += sendcounts[j] * size;
  }
  count_collective(c, total);
  return PMPI_Scatterv(sendbuf, sendcounts, displs, sendtype, recvbuf, recvcount, recvtype, root,
                       comm);
}

}  // extern "C"
