#pragma once
/// Bytes communicated by this rank, counted by intercepting MPI through its profiling interface
/// (PMPI). The counters live in the library (src/mpi/comm_counters.cpp); what fills them is a
/// separate target, deeprfm::pmpi_counters (src/instrument/pmpi_counters.cpp), which defines the
/// MPI send and collective entry points that deeprfm, BLACS/ScaLAPACK/PBLAS and parallel HDF5
/// call; each adds to this rank's counters and then calls the PMPI_ version. deeprfm's programs
/// link it; a program that links only deeprfm::deeprfm counts nothing (comm_counters_enabled()
/// is false and every count stays 0). Because the definitions live in the executable (linked
/// before libmpi), calls made from inside libscalapack and libhdf5 are counted too.
///
/// What one call counts (per rank, `m` = bytes of the message, `p` = size of the communicator;
/// every count is 0 on a communicator of one rank and for messages to oneself or MPI_PROC_NULL):
///
/// | call | bytes counted on this rank |
/// |---|---|
/// | Send, Isend, Rsend, Ssend, Bsend, Ibsend, Issend, Irsend, Sendrecv(_replace) | m |
/// | Bcast, Reduce | m (p-1)/p |
/// | Allreduce | 2 m (p-1)/p |
/// | Allgather(v), Alltoall(v) | this rank's block(s) for the p-1 other ranks |
/// | Gather(v) | m on a non-root rank, 0 on the root |
/// | Scatter(v) | the blocks for the p-1 other ranks on the root, 0 elsewhere |
/// | Reduce_scatter(_block) | the blocks of the p-1 other ranks (m (p-1)/p for equal blocks) |
///
/// For collectives this is each rank's share of the minimum volume a bandwidth-optimal
/// algorithm moves (a tree or pipelined broadcast delivers m to p-1 ranks; reduce-scatter +
/// all-gather moves 2 m (p-1)/p per rank), so the sum over ranks is the collective's volume
/// whatever algorithm Open MPI picked; the per-rank split of a broadcast is an average. Data
/// written to files through MPI-IO is not counted; the exchanges of two-phase collective I/O
/// are counted only if they go through the public MPI_* calls.
///
/// Off-node bytes: the part of the above that crosses the network, i.e. leaves this rank's
/// node (the ranks sharing memory with it: MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)).
///
/// | call | off-node bytes counted on this rank |
/// |---|---|
/// | point-to-point sends | m if the destination is on another node, else 0 (exact) |
/// | every collective above | its bytes * q/(p-1) (a model) |
///
/// where q is how many of the communicator's p-1 other ranks are on another node (for an
/// intercommunicator: the share of the remote group). The collective figure is a model: it assumes
/// this rank's share is spread evenly over the other ranks, whereas Open MPI's algorithms may route
/// it differently (hierarchical ones cross the network once per node rather than once per rank); it
/// is exact for p = 2 and whenever all or none of the other ranks are off-node. A destination
/// outside MPI_COMM_WORLD (a spawned or connected job) counts as off-node. The node of every world
/// rank is determined once, inside MPI_Init / MPI_Init_thread (which
/// src/instrument/pmpi_counters.cpp intercepts as well, so the collective this needs runs where
/// every rank is anyway, never inside a send), with PMPI_ calls that are not counted. Test-only
/// override: DEEPRFM_TEST_NODE_OF_RANK="0,0,1,1" (the node index of each world rank, one per rank)
/// replaces the shared-memory split, so that a multi-node layout can be tested on one host; a
/// malformed value aborts the job in MPI_Init. All functions here are local and thread-safe.
#include <cstdint>
#include <vector>

namespace deeprfm {

/// Totals of this rank since the program started. Local.
struct CommCounters {
  std::uint64_t bytes = 0;           ///< bytes sent as defined above
  std::uint64_t off_node_bytes = 0;  ///< the part of `bytes` sent off this rank's node, as above
  std::uint64_t calls = 0;  ///< counted MPI send/collective calls (including those of 0 bytes)
};

/// This rank's counters now. Local; the values only grow.
CommCounters comm_counters();

/// Bytes this rank has sent so far (comm_counters().bytes). Local.
std::uint64_t comm_bytes_sent();

/// Number of nodes MPI_COMM_WORLD spans (after the test override, if any), or 0 when the node
/// map is unknown because MPI was initialised without the intercepted MPI_Init/MPI_Init_thread
/// (off_node_bytes then stays 0). Local.
int comm_node_count();

/// Node index (0-based, in order of the first world rank on each node) of a world rank, or -1
/// when it is out of range or the node map is unknown. Local.
int comm_node_of_world_rank(int world_rank);

/// True when the PMPI layer (deeprfm::pmpi_counters) is linked into this program and MPI was
/// initialised through it, i.e. when the counts above mean something. Local.
bool comm_counters_enabled();

namespace detail {
/// Called by the PMPI layer only: add one counted call. Local, thread-safe.
void record_comm(double bytes, double off_node_bytes);
/// Called by the PMPI layer only, once, inside MPI_Init: the node index of every world rank.
void publish_node_map(const std::vector<int>& node_of_world_rank);
}  // namespace detail

}  // namespace deeprfm
