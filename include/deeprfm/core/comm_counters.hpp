#pragma once
/// Bytes communicated by this rank, counted by intercepting MPI through its profiling interface
/// (PMPI). src/core/comm_counters.cpp defines the MPI send and collective entry points that
/// deeprfm, BLACS/ScaLAPACK/PBLAS and parallel HDF5 call; each adds to this rank's counters and
/// then calls the PMPI_ version. Because the definitions live in the executable (linked before
/// libmpi), calls made from inside libscalapack and libhdf5 are counted too.
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
/// written to files through MPI-IO is not communication and is not counted; the exchanges of
/// two-phase collective I/O are counted only if they go through the public MPI_* calls.
/// All functions here are local and thread-safe.
#include <cstdint>

namespace deeprfm {

/// Totals of this rank since the program started. Local.
struct CommCounters {
  std::uint64_t bytes = 0;  ///< bytes sent as defined above
  std::uint64_t calls = 0;  ///< counted MPI send/collective calls (including those of 0 bytes)
};

/// This rank's counters now. Local; the values only grow.
CommCounters comm_counters();

/// Bytes this rank has sent so far (comm_counters().bytes). Local.
std::uint64_t comm_bytes_sent();

}  // namespace deeprfm
