// The MPI byte counters of core/comm_counters.hpp: calls made from inside libscalapack (PBLAS
// pdgemm, through BLACS) are intercepted, a run on one rank communicates nothing, the counted
// volumes follow the documented definition, and ScopedPhase books the bytes of its phase.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include <deeprfm/core/comm_counters.hpp>
#include <deeprfm/core/timer.hpp>
#include <deeprfm/grid/process_grid.hpp>
#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/mpi/communicator.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

namespace {

/// Sum of a value over MPI_COMM_WORLD (itself a counted call: use only after measuring).
double sum_over_ranks(double local) {
  double out = 0;
  MPI_Allreduce(&local, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(pdgemm_inside_scalapack_is_counted) {
  const auto world = mpi::Communicator::world();
  const int p = world.size();
  for (const auto& shape : test::all_grid_shapes()) {
    grid::ProcessGrid grid(world, shape);
    const int n = 150, k = 70, block = 16;  // sizes that do not divide the block size
    la::DistMatrix<double> a(grid, n, k, block), b(grid, k, n, block), c(grid, n, n, block);
    a.for_each_local([](int i, int j, double& v) { v = 1.0 + i - 0.5 * j; });
    b.for_each_local([](int i, int j, double& v) { v = 0.25 * i + j; });
    const CommCounters before = comm_counters();
    la::scalapack::gemm('N', 'N', 1.0, a, b, 0.0, c);
    const CommCounters after = comm_counters();
    const double sent = static_cast<double>(after.bytes - before.bytes);
    const double calls = static_cast<double>(after.calls - before.calls);
    BOOST_TEST_MESSAGE("grid " << shape.str() << ": rank " << world.rank() << " sent " << sent
                               << " bytes in " << calls << " MPI calls during pdgemm");
    const double total = sum_over_ranks(sent);
    const double total_calls = sum_over_ranks(calls);
    if (p == 1) {
      BOOST_CHECK_EQUAL(total, 0.0);  // one rank: nothing leaves the process
    } else {
      BOOST_CHECK_GT(total, 0.0);  // BLACS calls were intercepted
      BOOST_CHECK_GT(total_calls, 0.0);
      // pdgemm cannot move more than every rank receiving all of A and B.
      BOOST_CHECK_LE(total, 8.0 * p * (double(n) * k * 2));
    }
  }
}

BOOST_AUTO_TEST_CASE(collective_volumes_follow_the_definition) {
  const auto world = mpi::Communicator::world();
  const int p = world.size();
  const int count = 1000;
  std::vector<double> buf(count, 1.0), out(count, 0.0);

  std::uint64_t b0 = comm_bytes_sent();
  MPI_Allreduce(buf.data(), out.data(), count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  const double allreduce = static_cast<double>(comm_bytes_sent() - b0);

  b0 = comm_bytes_sent();
  MPI_Bcast(buf.data(), count, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  const double bcast = static_cast<double>(comm_bytes_sent() - b0);

  // A derived datatype counts its data, not its extent: 10 blocks of 3 doubles, stride 7.
  MPI_Datatype vec;
  MPI_Type_vector(10, 3, 7, MPI_DOUBLE, &vec);
  MPI_Type_commit(&vec);
  double send = 0;
  b0 = comm_bytes_sent();
  if (p > 1) {
    if (world.rank() == 0) MPI_Send(buf.data(), 1, vec, 1, 7, MPI_COMM_WORLD);
    if (world.rank() == 1) MPI_Recv(out.data(), 1, vec, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  send = static_cast<double>(comm_bytes_sent() - b0);
  MPI_Type_free(&vec);

  // Reduce_scatter with unequal blocks: every block but my own leaves this rank.
  std::vector<int> counts(static_cast<std::size_t>(p));
  for (int j = 0; j < p; ++j) counts[static_cast<std::size_t>(j)] = 10 + 3 * j;
  int total_count = 0;
  for (int c : counts) total_count += c;
  std::vector<double> rs_in(static_cast<std::size_t>(total_count), 1.0),
      rs_out(counts[world.rank()]);
  b0 = comm_bytes_sent();
  MPI_Reduce_scatter(rs_in.data(), rs_out.data(), counts.data(), MPI_DOUBLE, MPI_SUM,
                     MPI_COMM_WORLD);
  const double reduce_scatter = static_cast<double>(comm_bytes_sent() - b0);
  const double reduce_scatter_expected = 8.0 * (total_count - counts[world.rank()]);

  const double m = 8.0 * count;
  DEEPRFM_CHECK_ALL(allreduce == 2.0 * m * (p - 1) / p);
  DEEPRFM_CHECK_ALL(bcast == m * (p - 1) / p);
  DEEPRFM_CHECK_ALL(send == (p > 1 && world.rank() == 0 ? 8.0 * 30 : 0.0));
  DEEPRFM_CHECK_ALL(reduce_scatter == reduce_scatter_expected);
}

BOOST_AUTO_TEST_CASE(scoped_phase_records_bytes) {
  const auto world = mpi::Communicator::world();
  const int p = world.size();
  PhaseTimers timers;
  std::vector<double> buf(500, 1.0);
  { ScopedPhase phase(timers, "quiet", 0); }
  {
    ScopedPhase phase(timers, "reduce", 0);
    world.sum_in_place(buf.data(), buf.size());
  }
  DEEPRFM_CHECK_ALL(timers.at("quiet").bytes == 0.0);
  DEEPRFM_CHECK_ALL(timers.at("reduce").bytes == 2.0 * 8.0 * 500 * (p - 1) / p);
  timers.add("direct", 1.0, 2.0, 3.0);
  BOOST_CHECK_EQUAL(timers.at("direct").bytes, 3.0);
}

// A phase with a synchronising barrier: the barrier makes every rank's time the slowest rank's,
// and it is skipped when the scope is left by an exception (here only on rank 0: a barrier on
// rank 0 alone would be matched with the barrier below and leave the final Allreduce of the
// other ranks waiting, so the test would hang instead of passing).
BOOST_AUTO_TEST_CASE(synchronised_phase_waits_for_the_slowest_rank_but_not_while_unwinding) {
  const auto world = mpi::Communicator::world();
  PhaseTimers timers;
  world.barrier();  // start together (up to scheduling: 4 ranks may share 2 cores)
  {
    ScopedPhase phase(timers, "sync", 0, world.get());
    if (world.rank() == world.size() - 1) {
      const double until = wall_seconds() + 0.1;
      while (wall_seconds() < until) {
      }
    }
  }
  DEEPRFM_CHECK_ALL(timers.at("sync").seconds >= 0.05);
  bool caught = false;
  if (world.rank() == 0) {
    try {
      ScopedPhase phase(timers, "unwound", 0, world.get());
      throw std::runtime_error("only rank 0 fails");
    } catch (const std::runtime_error&) {
      caught = true;
    }
    BOOST_CHECK(timers.has("unwound"));
  }
  world.barrier();
  DEEPRFM_CHECK_ALL(world.rank() != 0 || caught);
}
