// Index maps of the block-cyclic distribution against ScaLAPACK's own numroc/indxg2l/indxl2g,
// for sizes that do not divide the block size, size 0, and every grid shape of the world.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/la/scalapack.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

BOOST_AUTO_TEST_CASE(cyclic_map_matches_scalapack_tools) {
  bool ok = true;
  for (int procs : {1, 2, 3, 4, 5, 6}) {
    for (int block : {1, 3, 4, 64}) {
      for (int size : {0, 1, 7, 64, 65, 130, 1001}) {
        int total = 0;
        for (int p = 0; p < procs; ++p) {
          la::CyclicMap map(size, block, procs, p);
          const int zero = 0;
          const int expected = numroc_(&size, &block, &p, &zero, &procs);
          ok = ok && map.local_size() == expected;
          total += map.local_size();
          for (int l = 0; l < map.local_size(); ++l) {
            const int l1 = l + 1;
            const int g_ref = indxl2g_(&l1, &block, &p, &zero, &procs) - 1;
            const int g = map.to_global(la::LocalIndex(l)).value;
            ok = ok && g == g_ref;
            const int g1 = g + 1;
            ok = ok && map.to_local(la::GlobalIndex(g)).value ==
                           indxg2l_(&g1, &block, &p, &zero, &procs) - 1;
            ok = ok && map.owner(la::GlobalIndex(g)) == indxg2p_(&g1, &block, &p, &zero, &procs);
            ok = ok && map.owner(la::GlobalIndex(g)) == p;
          }
        }
        ok = ok && total == size;
      }
    }
  }
  BOOST_CHECK(ok);
}

// Every shape of the world is built as asked: Pr x Pc in row-major rank order, with row and
// column communicators of the right sizes (at 6 ranks a transposed 2x3/3x2 mix-up shows here).
BOOST_AUTO_TEST_CASE(every_grid_shape_is_built_as_asked) {
  auto world = mpi::Communicator::world();
  const auto shapes = test::all_grid_shapes();
  if (world.size() == 6)
    BOOST_CHECK(shapes.size() == 4 && shapes[0].str() == "1x6" && shapes[1].str() == "2x3" &&
                shapes[2].str() == "3x2" && shapes[3].str() == "6x1");
  test::GridCoverage coverage("test_distribution grid layout");
  for (auto shape : shapes) {
    la::ProcessGrid grid(world, shape);
    coverage.saw(grid);
    DEEPRFM_CHECK_ALL(grid.rows() == shape.rows && grid.cols() == shape.cols);
    DEEPRFM_CHECK_ALL(grid.my_row() == world.rank() / shape.cols &&
                      grid.my_col() == world.rank() % shape.cols);
    DEEPRFM_CHECK_ALL(grid.row_comm().size() == shape.cols &&
                      grid.row_comm().rank() == grid.my_col());
    DEEPRFM_CHECK_ALL(grid.col_comm().size() == shape.rows &&
                      grid.col_comm().rank() == grid.my_row());
  }
  coverage.check();
}

BOOST_AUTO_TEST_CASE(dist_matrix_covers_every_element_once_on_every_grid) {
  auto world = mpi::Communicator::world();
  test::GridCoverage coverage("test_distribution element coverage");
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    coverage.saw(grid);
    for (int m : {0, 1, 13, 100}) {
      for (int n : {0, 5, 37}) {
        la::DistMatrix<double> a(grid, m, n, 4);
        std::vector<double> count(static_cast<std::size_t>(m) * n, 0.0);
        a.for_each_local([&](int gi, int gj, double& v) {
          v = gi * 1000.0 + gj;
          count[static_cast<std::size_t>(gi) * n + gj] += 1.0;
        });
        world.sum_in_place(count.data(), count.size());
        bool once = true;
        for (double c : count) once = once && c == 1.0;
        DEEPRFM_CHECK_ALL(once);
        // replicate() puts every element where it belongs.
        auto full = la::replicate(a);
        bool placed = true;
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < n; ++j)
            placed = placed && full[static_cast<std::size_t>(i) * n + j] == i * 1000.0 + j;
        DEEPRFM_CHECK_ALL(placed);
      }
    }
  }
  coverage.check();
}

BOOST_AUTO_TEST_CASE(grid_shape_parsing_and_mismatch) {
  BOOST_CHECK_EQUAL(la::parse_grid_shape("2x3").rows, 2);
  BOOST_CHECK_EQUAL(la::parse_grid_shape("2X3").cols, 3);
  BOOST_CHECK_THROW(la::parse_grid_shape("2by3"), Error);
  BOOST_CHECK_THROW(la::parse_grid_shape("0x3"), Error);
  BOOST_CHECK_EQUAL(la::most_square_shape(4).rows, 2);
  BOOST_CHECK_EQUAL(la::most_square_shape(2).cols, 2);
  BOOST_CHECK_EQUAL(la::most_square_shape(6).rows, 2);
  auto world = mpi::Communicator::world();
  // A grid with one process too many is refused on every rank, without a hang.
  BOOST_CHECK_THROW(la::ProcessGrid(world, {1, world.size() + 1}), Error);
}

// deeprfm's PILAENV (la/blas_info.hpp) must be the one PBLAS calls, and any logical block size
// must give the same product up to round-off: pdgemm against a replicated serial product.
BOOST_AUTO_TEST_CASE(pblas_logical_block_reaches_scalapack_and_keeps_results) {
  BOOST_CHECK_EQUAL(la::default_pblas_logical_block(256), 512);
  BOOST_CHECK_EQUAL(la::default_pblas_logical_block(64), 512);
  BOOST_CHECK_EQUAL(la::default_pblas_logical_block(384), 768);
  BOOST_CHECK_EQUAL(la::default_pblas_logical_block(1000), 1000);
  BOOST_CHECK_THROW(la::set_pblas_logical_block(0), Error);
  const int saved = la::pblas_logical_block();
  auto world = mpi::Communicator::world();
  const int m = 37, n = 29, k = 45, block = 4;
  test::GridCoverage gemm_coverage("test_distribution pdgemm");
  for (const auto& shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    gemm_coverage.saw(grid);
    la::DistMatrix<double> a(grid, m, k, block), b(grid, k, n, block);
    a.for_each_local([](int i, int j, double& v) { v = std::sin(1.0 + i * 0.37 + j * 0.11); });
    b.for_each_local([](int i, int j, double& v) { v = std::cos(0.5 + i * 0.13 - j * 0.29); });
    for (int width : {1, 7, 32, 512}) {
      la::set_pblas_logical_block(width);
      const long before = la::pblas_logical_block_queries();
      la::DistMatrix<double> c(grid, m, n, block);
      la::scalapack::gemm('N', 'N', 1.0, a, b, 0.0, c);
      DEEPRFM_CHECK_ALL(la::pblas_logical_block_queries() > before);
      const auto cf = la::replicate(c);
      double worst = 0;
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double ref = 0;
          for (int l = 0; l < k; ++l)
            ref += std::sin(1.0 + i * 0.37 + l * 0.11) * std::cos(0.5 + l * 0.13 - j * 0.29);
          worst = std::max(worst, std::abs(cf[static_cast<std::size_t>(i) * n + j] - ref));
        }
      BOOST_TEST_INFO("grid " << shape.str() << ", logical block " << width);
      DEEPRFM_CHECK_ALL(worst <= 4.0 * k * test::kEps);
    }
  }
  gemm_coverage.check();
  // The Cholesky solve with every logical block: a scaled residual at round-off level.
  const int order = 53, nrhs = 3;
  test::GridCoverage cholesky_coverage("test_distribution pdpotrf");
  for (const auto& shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    cholesky_coverage.saw(grid);
    la::DistMatrix<double> g(grid, order, order, block), spd(grid, order, order, block);
    g.for_each_local([](int i, int j, double& v) { v = std::sin(0.3 + i * 0.7 + j * 0.19); });
    for (int width : {1, 7, 32, 512}) {
      la::set_pblas_logical_block(width);
      la::scalapack::gemm('N', 'T', 1.0, g, g, 0.0, spd);  // G G^T + order I
      spd.for_each_local([](int i, int j, double& v) { v += i == j ? order : 0.0; });
      const auto a = la::replicate(spd);
      la::DistMatrix<double> x(grid, order, nrhs, block);
      x.for_each_local([](int i, int j, double& v) { v = 1.0 + i - 2.0 * j; });
      const auto b = la::replicate(x);
      const long before = la::pblas_logical_block_queries();
      const int info = la::scalapack::potrf('L', spd);
      const int sinfo = la::scalapack::potrs('L', spd, x);
      DEEPRFM_CHECK_ALL(info == 0 && sinfo == 0);
      DEEPRFM_CHECK_ALL(la::pblas_logical_block_queries() > before);
      const auto xs = la::replicate(x);
      double worst = 0, anorm = 0, xnorm = 0;
      for (int i = 0; i < order; ++i) {
        double row = 0;
        for (int l = 0; l < order; ++l) row += std::abs(a[static_cast<std::size_t>(i) * order + l]);
        anorm = std::max(anorm, row);
        for (int c = 0; c < nrhs; ++c) {
          double r = -b[static_cast<std::size_t>(i) * nrhs + c];
          for (int l = 0; l < order; ++l)
            r += a[static_cast<std::size_t>(i) * order + l] *
                 xs[static_cast<std::size_t>(l) * nrhs + c];
          worst = std::max(worst, std::abs(r));
          xnorm = std::max(xnorm, std::abs(xs[static_cast<std::size_t>(i) * nrhs + c]));
        }
      }
      BOOST_TEST_INFO("grid " << shape.str() << ", logical block " << width);
      DEEPRFM_CHECK_ALL(worst <= 10.0 * order * test::kEps * anorm * xnorm);
    }
  }
  cholesky_coverage.check();
  la::set_pblas_logical_block(saved);
}
