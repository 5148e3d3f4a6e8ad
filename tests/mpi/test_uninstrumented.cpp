// A program that links only deeprfm::deeprfm (as another project would) gets none of the
// programs' instrumentation: no PMPI byte counting and ScaLAPACK's own PILAENV.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/mpi/comm_counters.hpp>
#include <deeprfm/mpi/communicator.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

BOOST_AUTO_TEST_CASE(mpi_traffic_is_not_counted) {
  auto world = mpi::Communicator::world();
  std::vector<double> v(1000, 1.0);
  world.sum_in_place(v.data(), v.size());
  DEEPRFM_CHECK_ALL(!comm_counters_enabled());
  DEEPRFM_CHECK_ALL(comm_counters().bytes == 0 && comm_counters().calls == 0);
  DEEPRFM_CHECK_ALL(comm_node_count() == 0 && comm_node_of_world_rank(0) == -1);
}

BOOST_AUTO_TEST_CASE(scalapack_keeps_its_own_pilaenv) {
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  la::DistMatrix<double> a(grid, 40, 40, 8), c(grid, 40, 40, 8);
  a.for_each_local([](int i, int j, double& x) { x = i == j ? 2.0 : 0.0; });
  la::set_pblas_logical_block(7);
  la::scalapack::gemm('N', 'N', 1.0, a, a, 0.0, c);
  DEEPRFM_CHECK_ALL(la::pblas_logical_block_queries() == 0);
  double worst = 0;
  c.for_each_local([&](int i, int j, double& x) {
    worst = std::max(worst, std::abs(x - (i == j ? 4.0 : 0.0)));
  });
  DEEPRFM_CHECK_ALL(worst == 0.0);
}
