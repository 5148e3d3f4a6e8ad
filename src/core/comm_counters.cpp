// Bytes communicated per rank through the MPI profiling interface: each MPI_* entry point below
// counts (see include/deeprfm/core/comm_counters.hpp for what is counted) and forwards to its
// PMPI_* twin. The definitions end up in every executable that links this object (timer.cpp
// references it, so every program using PhaseTimers does), and the linker exports them to the
// shared libraries that call MPI (libscalapack, libhdf5), which therefore call these too.
#include <deeprfm/core/comm_counters.hpp>

#include <mpi.h>

#include <atomic>

namespace deeprfm {

namespace {

std::atomic<std::uint64_t> g_bytes{0};
std::atomic<std::uint64_t> g_calls{0};

void count(double bytes) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  if (bytes > 0)
    g_bytes.fetch_add(static_cast<std::uint64_t>(bytes + 0.5), std::memory_order_relaxed);
}

double type_bytes(MPI_Datatype type) {
  MPI_Count size = 0;
  if (type == MPI_DATATYPE_NULL || PMPI_Type_size_x(type, &size) != MPI_SUCCESS) return 0.0;
  return static_cast<double>(size);
}

int comm_size(MPI_Comm comm) {
  int size = 1;
  if (PMPI_Comm_size(comm, &size) != MPI_SUCCESS) return 1;
  return size;
}

int comm_rank(MPI_Comm comm) {
  int rank = 0;
  if (PMPI_Comm_rank(comm, &rank) != MPI_SUCCESS) return -1;
  return rank;
}

/// A point-to-point send: counted unless it goes nowhere or to this rank itself.
void count_send(int count_, MPI_Datatype type, int dest, MPI_Comm comm) {
  if (dest == MPI_PROC_NULL || dest == comm_rank(comm)) {
    count(0.0);
    return;
  }
  count(count_ * type_bytes(type));
}

/// Share of a rooted or symmetric collective: factor * m * (p-1)/p.
void count_shared(double factor, int count_, MPI_Datatype type, MPI_Comm comm) {
  const int p = comm_size(comm);
  count(p > 1 ? factor * count_ * type_bytes(type) * (p - 1) / p : 0.0);
}

}  // namespace

CommCounters comm_counters() {
  return {g_bytes.load(std::memory_order_relaxed), g_calls.load(std::memory_order_relaxed)};
}

std::uint64_t comm_bytes_sent() { return g_bytes.load(std::memory_order_relaxed); }

}  // namespace deeprfm

using deeprfm::comm_rank;
using deeprfm::comm_size;
using deeprfm::count;
using deeprfm::count_send;
using deeprfm::count_shared;
using deeprfm::type_bytes;

extern "C" {

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
  const int p = comm_size(comm);
  count_shared(1.0, recvcount * p, type, comm);
  return PMPI_Reduce_scatter_block(sendbuf, recvbuf, recvcount, type, op, comm);
}

int MPI_Reduce_scatter(const void* sendbuf, void* recvbuf, const int recvcounts[],
                       MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
  // Bandwidth-optimal (ring / pairwise): every block except my own leaves this rank once.
  const int p = comm_size(comm), me = comm_rank(comm);
  const double size = type_bytes(type);
  double total = 0.0;
  for (int j = 0; j < p; ++j)
    if (j != me) total += recvcounts[j] * size;
  count(total);
  return PMPI_Reduce_scatter(sendbuf, recvbuf, recvcounts, type, op, comm);
}

int MPI_Allgather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                  int recvcount, MPI_Datatype recvtype, MPI_Comm comm) {
  const int p = comm_size(comm);
  const double block =
      sendbuf == MPI_IN_PLACE ? recvcount * type_bytes(recvtype) : sendcount * type_bytes(sendtype);
  count(block * (p - 1));
  return PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Allgatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                   const int recvcounts[], const int displs[], MPI_Datatype recvtype,
                   MPI_Comm comm) {
  const int p = comm_size(comm);
  const double block = sendbuf == MPI_IN_PLACE ? recvcounts[comm_rank(comm)] * type_bytes(recvtype)
                                               : sendcount * type_bytes(sendtype);
  count(block * (p - 1));
  return PMPI_Allgatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, comm);
}

int MPI_Alltoall(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                 int recvcount, MPI_Datatype recvtype, MPI_Comm comm) {
  const int p = comm_size(comm);
  const double block =
      sendbuf == MPI_IN_PLACE ? recvcount * type_bytes(recvtype) : sendcount * type_bytes(sendtype);
  count(block * (p - 1));
  return PMPI_Alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Alltoallv(const void* sendbuf, const int sendcounts[], const int sdispls[],
                  MPI_Datatype sendtype, void* recvbuf, const int recvcounts[], const int rdispls[],
                  MPI_Datatype recvtype, MPI_Comm comm) {
  const int p = comm_size(comm), me = comm_rank(comm);
  const bool in_place = sendbuf == MPI_IN_PLACE;
  const int* counts = in_place ? recvcounts : sendcounts;
  const double size = type_bytes(in_place ? recvtype : sendtype);
  double total = 0.0;
  for (int j = 0; j < p; ++j)
    if (j != me) total += counts[j] * size;
  count(total);
  return PMPI_Alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls,
                        recvtype, comm);
}

int MPI_Gather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
               int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm) {
  count(comm_rank(comm) == root ? 0.0 : sendcount * type_bytes(sendtype));
  return PMPI_Gather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
}

int MPI_Gatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                const int recvcounts[], const int displs[], MPI_Datatype recvtype, int root,
                MPI_Comm comm) {
  count(comm_rank(comm) == root ? 0.0 : sendcount * type_bytes(sendtype));
  return PMPI_Gatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, root,
                      comm);
}

int MPI_Scatter(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm) {
  const int p = comm_size(comm);
  count(comm_rank(comm) == root ? sendcount * type_bytes(sendtype) * (p - 1) : 0.0);
  return PMPI_Scatter(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
}

int MPI_Scatterv(const void* sendbuf, const int sendcounts[], const int displs[],
                 MPI_Datatype sendtype, void* recvbuf, int recvcount, MPI_Datatype recvtype,
                 int root, MPI_Comm comm) {
  const int me = comm_rank(comm);
  double total = 0.0;
  if (me == root) {
    const int p = comm_size(comm);
    const double size = type_bytes(sendtype);
    for (int j = 0; j < p; ++j)
      if (j != root) total += sendcounts[j] * size;
  }
  count(total);
  return PMPI_Scatterv(sendbuf, sendcounts, displs, sendtype, recvbuf, recvcount, recvtype, root,
                       comm);
}

}  // extern "C"
