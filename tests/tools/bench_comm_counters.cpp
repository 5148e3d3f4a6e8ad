// Cost of the PMPI byte counters on small messages (not a test: it prints, it asserts nothing).
//   mpirun -n 2 bench_comm_counters [iterations=100000] [repeats=5]
// Two loops, each on MPI_COMM_WORLD (the counters' fast path) and on a duplicate of it (the
// per-communicator attribute lookup that BLACS's own communicators take):
//   pingpong  rank 0 and 1 exchange 8-byte MPI_Send/MPI_Recv pairs (2 counted sends per
//             iteration, one per rank)
//   proc_null every rank sends 8 bytes to MPI_PROC_NULL: the counting code with next to no MPI
//             work behind it, i.e. the counters' own cost per call
// Built with -DDEEPRFM_BENCH_NO_COUNTERS it links no counters (plain MPI), for comparison.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#ifndef DEEPRFM_BENCH_NO_COUNTERS
#include <deeprfm/mpi/comm_counters.hpp>
#endif

namespace {

double pingpong(MPI_Comm comm, long iterations) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  double value = 1.0;
  MPI_Barrier(comm);
  const double t0 = MPI_Wtime();
  for (long i = 0; i < iterations; ++i) {
    if (rank == 0) {
      MPI_Send(&value, 1, MPI_DOUBLE, 1, 0, comm);
      MPI_Recv(&value, 1, MPI_DOUBLE, 1, 0, comm, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(&value, 1, MPI_DOUBLE, 0, 0, comm, MPI_STATUS_IGNORE);
      MPI_Send(&value, 1, MPI_DOUBLE, 0, 0, comm);
    }
  }
  return MPI_Wtime() - t0;
}

double proc_null(MPI_Comm comm, long iterations) {
  double value = 1.0;
  const double t0 = MPI_Wtime();
  for (long i = 0; i < iterations; ++i) MPI_Send(&value, 1, MPI_DOUBLE, MPI_PROC_NULL, 0, comm);
  return MPI_Wtime() - t0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const long iterations = argc > 1 ? std::atol(argv[1]) : 100000;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  MPI_Comm dup;
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  if (size >= 2) {  // warm-up (connections, the dup's cache entry)
    pingpong(MPI_COMM_WORLD, iterations / 10);
    pingpong(dup, iterations / 10);
  }
  proc_null(dup, 10);
  const char* names[] = {"pingpong world", "pingpong dup", "proc_null world", "proc_null dup"};
  for (int k = 0; k < 4; ++k) {
    if (size < 2 && k < 2) continue;
    const MPI_Comm comm = k % 2 == 0 ? MPI_COMM_WORLD : dup;
    std::vector<double> times;
    for (int r = 0; r < repeats; ++r)
      times.push_back(k < 2 ? pingpong(comm, iterations) : proc_null(comm, 10 * iterations));
    const long calls = k < 2 ? iterations : 10 * iterations;
    if (rank == 0)
      std::printf("%-16s %8ld iterations: median %.4f s, min %.4f s = %.3f us per iteration\n",
                  names[k], calls, median(times), *std::min_element(times.begin(), times.end()),
                  1e6 * *std::min_element(times.begin(), times.end()) / calls);
  }
#ifndef DEEPRFM_BENCH_NO_COUNTERS
  if (rank == 0)
    std::printf("counted on rank 0: %llu bytes in %llu calls\n",
                static_cast<unsigned long long>(deeprfm::comm_counters().bytes),
                static_cast<unsigned long long>(deeprfm::comm_counters().calls));
#else
  if (rank == 0) std::printf("no counters linked\n");
#endif
  MPI_Comm_free(&dup);
  MPI_Finalize();
  return 0;
}
