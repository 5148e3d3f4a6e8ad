// The numerical core against serial computations on gathered data: kernel matrices (with
// duplicates and near pairs), the Cholesky solve, the AGOP against a brute-force per-sample
// Jacobian sum, the matrix square root and the feature map. Every grid shape of the world, a
// block size that does not divide the sizes, tolerances that scale with n * eps.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include <deeprfm/base/error.hpp>
#include <deeprfm/model/kernel_matrix.hpp>
#include <deeprfm/model/solver.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/model/agop.hpp>
#include <deeprfm/model/feature_map.hpp>
#include <deeprfm/la/matrix_sqrt.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;
using test::kEps;

namespace {

/// n x d points on the unit sphere (row-major), with row 3 duplicating row 1 and row 5 a tiny
/// perturbation of row 2 (a near pair whose Gram-expanded distance is inaccurate).
std::vector<double> sample_points(int n, int d, unsigned seed, bool with_near_pairs) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::vector<double> x(static_cast<std::size_t>(n) * d);
  for (auto& v : x) v = normal(gen);
  if (with_near_pairs && n > 5) {
    for (int j = 0; j < d; ++j) {
      x[3 * d + j] = x[1 * d + j];
      x[5 * d + j] = x[2 * d + j] + (j == 0 ? 1e-7 : 0.0);
    }
  }
  for (int i = 0; i < n; ++i) {
    double s = 0;
    for (int j = 0; j < d; ++j) s += x[i * d + j] * x[i * d + j];
    for (int j = 0; j < d; ++j) x[i * d + j] /= std::sqrt(s);
  }
  return x;
}

double distance(const double* a, const double* b, int d) {
  double s = 0;
  for (int k = 0; k < d; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
  return std::sqrt(s);
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

double frobenius(const std::vector<double>& a) {
  double s = 0;
  for (double v : a) s += v * v;
  return std::sqrt(s);
}

}  // namespace

BOOST_AUTO_TEST_CASE(kernel_matrix_matches_serial_with_duplicates_and_near_pairs) {
  test::GridCoverage coverage("test_rfm_core kernel matrix");
  auto world = mpi::Communicator::world();
  const int n = 37, d = 9;
  const auto xs = sample_points(n, d, 7, true);
  for (auto kind : {model::KernelKind::laplace, model::KernelKind::gaussian}) {
    model::Kernel kernel{kind, 1.5};
    for (auto shape : test::all_grid_shapes()) {
      la::ProcessGrid grid(world, shape);
      coverage.saw(grid);
      la::DistMatrix<double> x(grid, n, d, 4);
      la::assign_from_replicated(x, xs.data());
      la::DistMatrix<double> k(grid, n, n, 4);
      const auto stats = model::assemble_kernel(kernel, x, 0, n, x, true, k);
      const auto kf = la::replicate(k);
      double err = 0;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          const double r = distance(&xs[i * d], &xs[j * d], d);
          const double ref = kind == model::KernelKind::laplace
                                 ? std::exp(-r / 1.5)
                                 : std::exp(-r * r / (2 * 1.5 * 1.5));
          err = std::max(err, std::abs(kf[i * n + j] - ref));
        }
      BOOST_TEST_MESSAGE("kernel error " << err);
      DEEPRFM_CHECK_ALL(err < 10 * d * kEps);
      // The 1-norm summed during the assembly (near pairs' corrections included).
      double one_norm = 0;
      for (int j = 0; j < n; ++j) {
        double column = 0;
        for (int i = 0; i < n; ++i) column += std::abs(kf[i * n + j]);
        one_norm = std::max(one_norm, column);
      }
      DEEPRFM_CHECK_ALL(std::abs(stats.one_norm - one_norm) <= 4 * n * kEps * one_norm);
      // The duplicate (1,3) and (3,1) and the near pair (2,5),(5,2) were recomputed.
      DEEPRFM_CHECK_ALL(stats.near_pairs == 4);
      DEEPRFM_CHECK_ALL(stats.coincident_pairs == 2);
      // The near pair's distance 1e-7/|x| is recovered to high relative accuracy: k, recomputed
      // from the rows' differences, is within a few eps, so r = -s log k is within
      // s * (few eps) / k absolutely (k ~ 1), plus r's own d roundings.
      const double r25 = distance(&xs[2 * d], &xs[5 * d], d);
      if (kind == model::KernelKind::laplace) {
        const double r_from_k = -1.5 * std::log(kf[2 * n + 5]);
        const double r_tol = 1.5 * test::tol(1, 8) + test::tol(d, 2) * r25;
        BOOST_TEST_MESSAGE("near pair r " << r25 << ": error " << std::abs(r_from_k - r25)
                                          << " (tolerance " << r_tol << ")");
        DEEPRFM_CHECK_ALL(std::abs(r_from_k - r25) < r_tol);
      }
    }
  }
  coverage.check();
}

BOOST_AUTO_TEST_CASE(rectangular_kernel_block_with_row_offset) {
  test::GridCoverage coverage("test_rfm_core rectangular kernel block");
  auto world = mpi::Communicator::world();
  const int n = 23, m_all = 19, d = 5;
  const auto zs = sample_points(n, d, 3, false);
  const auto xs = sample_points(m_all, d, 4, false);
  model::Kernel kernel{model::KernelKind::laplace, 2.0};
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    coverage.saw(grid);
    la::DistMatrix<double> z(grid, n, d, 3), x(grid, m_all, d, 3);
    la::assign_from_replicated(z, zs.data());
    la::assign_from_replicated(x, xs.data());
    const int row0 = 7, m = 10;
    la::DistMatrix<double> k(grid, m, n, 3);
    model::assemble_kernel(kernel, x, row0, m, z, false, k);
    const auto kf = la::replicate(k);
    double err = 0;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j)
        err =
            std::max(err, std::abs(kf[i * n + j] -
                                   std::exp(-distance(&xs[(row0 + i) * d], &zs[j * d], d) / 2.0)));
    DEEPRFM_CHECK_ALL(err < 10 * d * kEps);
  }
  coverage.check();
}

BOOST_AUTO_TEST_CASE(normalize_rows_and_zero_row_error) {
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  const int n = 11, d = 6;
  std::vector<double> xs(n * d);
  for (int i = 0; i < n * d; ++i) xs[i] = std::sin(i + 1.0);
  la::DistMatrix<double> x(grid, n, d, 4);
  la::assign_from_replicated(x, xs.data());
  model::normalize_rows(x, "test");
  const auto norms = model::row_squared_norms(x);
  bool ok = true;
  for (double v : norms) ok = ok && std::abs(v - 1.0) < 4 * d * kEps;
  DEEPRFM_CHECK_ALL(ok);
  // A zero row is refused on every rank alike (no hang).
  for (int j = 0; j < d; ++j) xs[4 * d + j] = 0.0;
  la::assign_from_replicated(x, xs.data());
  BOOST_CHECK_THROW(model::normalize_rows(x, "test"), Error);
}

BOOST_AUTO_TEST_CASE(cholesky_solve_matches_serial_and_reports_residual) {
  test::GridCoverage coverage("test_rfm_core Cholesky solve");
  auto world = mpi::Communicator::world();
  const int n = 41, d = 7, classes = 3;
  const auto xs = sample_points(n, d, 11, false);
  std::vector<int> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = i % classes;
  model::Kernel kernel{model::KernelKind::laplace, 2.0};
  for (double ridge : {0.0, 1e-2}) {
    for (auto shape : test::all_grid_shapes()) {
      la::ProcessGrid grid(world, shape);
      coverage.saw(grid);
      la::DistMatrix<double> x(grid, n, d, 5);
      la::assign_from_replicated(x, xs.data());
      la::DistMatrix<double> k(grid, n, n, 5), a(grid, n, classes, 5), y(grid, n, classes, 5);
      const auto stats = model::assemble_kernel(kernel, x, 0, n, x, true, k);
      const auto kfull = la::replicate(k);
      model::fill_targets(a, labels);
      model::fill_targets(y, labels);
      const auto report = model::cholesky_solve(k, ridge, a, "test");  // pdlansy's norm
      DEEPRFM_CHECK_ALL(std::abs(report.anorm - (stats.one_norm + ridge)) <=
                        4 * n * kEps * report.anorm);
      model::assemble_kernel(kernel, x, 0, n, x, true, k);
      const double res = model::relative_residual(k, ridge, a, y);
      {
        // The same solve with the norm from the assembly: the same condition estimate.
        la::DistMatrix<double> k2(grid, n, n, 5), a2(grid, n, classes, 5);
        model::assemble_kernel(kernel, x, 0, n, x, true, k2);
        model::fill_targets(a2, labels);
        const auto fused = model::cholesky_solve(k2, ridge, a2, "test", stats.one_norm);
        // The two norms differ by at most 4 n eps (checked above) and rcond ~ 1 / ||K||.
        BOOST_TEST_MESSAGE("rcond fused vs pdlansy: " << test::rel_diff(fused.rcond, report.rcond));
        DEEPRFM_CHECK_ALL(std::abs(fused.rcond - report.rcond) <= test::tol(n, 8) * report.rcond);
      }
      const double cond = 1.0 / report.rcond;
      BOOST_TEST_MESSAGE("ridge " << ridge << " residual " << res << " cond " << cond);
      // Backward-stable Cholesky: residual <= c n eps cond-free bound ||K|| ||A|| / ||Y||.
      DEEPRFM_CHECK_ALL(res < 100.0 * n * kEps * std::max(1.0, report.anorm) *
                                  std::max(1.0, la::scalapack::lange('F', a)));
      // Serial reference with LAPACK on the gathered matrix.
      std::vector<double> kk = kfull, b(static_cast<std::size_t>(n) * classes);
      for (int i = 0; i < n; ++i) kk[i * n + i] += ridge;
      for (int c = 0; c < classes; ++c)
        for (int i = 0; i < n; ++i) b[c * n + i] = labels[i] == c ? 1.0 : -1.0;  // col-major
      int info = 0;
      const char uplo = 'L';
      dpotrf_(&uplo, &n, kk.data(), &n, &info);
      dpotrs_(&uplo, &n, &classes, kk.data(), &n, b.data(), &n, &info);
      const auto af = la::replicate(a);
      double err = 0, scale = 0;
      for (int i = 0; i < n; ++i)
        for (int c = 0; c < classes; ++c) {
          err = std::max(err, std::abs(af[i * classes + c] - b[c * n + i]));
          scale = std::max(scale, std::abs(b[c * n + i]));
        }
      DEEPRFM_CHECK_ALL(err <= 10.0 * n * kEps * cond * scale);
      DEEPRFM_CHECK_ALL(report.rcond > 0 && report.rcond <= 1);
    }
  }
  coverage.check();
}

BOOST_AUTO_TEST_CASE(singular_ridgeless_system_fails_on_every_rank_with_advice) {
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  const int n = 12;
  // A rank-one "kernel" matrix: all ones. Cholesky must fail at pivot 2.
  la::DistMatrix<double> k(grid, n, n, 4), a(grid, n, 2, 4);
  k.fill(1.0);
  bool threw = false;
  std::string message, subject;
  try {
    model::cholesky_solve(k, 0.0, a, "layer 7");
  } catch (const Error& e) {
    threw = e.kind() == ErrorKind::numerical;
    message = e.what();
    subject = e.subject();
  }
  DEEPRFM_CHECK_ALL(threw);
  DEEPRFM_CHECK_ALL(message.find("layer 7") != std::string::npos);
  // The library advises a ridge and names it as the subject; the flag is the CLI's to add.
  DEEPRFM_CHECK_ALL(message.find("a ridge of 1e-3") != std::string::npos);
  DEEPRFM_CHECK_ALL(message.find("--") == std::string::npos);
  DEEPRFM_CHECK_ALL(subject == "ridge");
  BOOST_CHECK_THROW(model::cholesky_solve(k, -1.0, a, "x"), Error);
}

BOOST_AUTO_TEST_CASE(agop_matches_brute_force_per_sample_jacobians) {
  test::GridCoverage coverage("test_rfm_core AGOP");
  auto world = mpi::Communicator::world();
  const int n = 29, d = 6, classes = 3;
  std::mt19937_64 gen(9);
  std::normal_distribution<double> normal;
  std::vector<double> as(static_cast<std::size_t>(n) * classes);
  for (auto& v : as) v = normal(gen);
  for (bool near_pairs : {false, true}) {
    // With a near pair at distance ~1e-7 the matrix form W diag(a) X - diag(W a) X subtracts
    // terms of size w ~ 1e7 that cancel to O(1): its error is eps * max w, not eps. The bound
    // below carries that factor (docs/numerics.md); without near pairs it is n * eps.
    const auto xs = sample_points(n, d, 5, near_pairs);
    for (auto kind : {model::KernelKind::laplace, model::KernelKind::gaussian}) {
      model::Kernel kernel{kind, 1.3};
      const double t = kernel.gradient_scale();
      double w_max = 1.0;
      // Brute force: J_i[c][:] = sum_j a_jc grad_x k(x_i, x_j), G = (1/n) sum_i J_i^T J_i.
      std::vector<double> g_ref(static_cast<std::size_t>(d) * d, 0.0);
      for (int i = 0; i < n; ++i) {
        std::vector<double> jac(static_cast<std::size_t>(classes) * d, 0.0);
        for (int j = 0; j < n; ++j) {
          const double r = distance(&xs[i * d], &xs[j * d], d);
          double w;
          if (kind == model::KernelKind::laplace) {
            if (r < model::kLaplaceGradientCutoff) continue;  // dropped pair
            w = std::exp(-r / 1.3) / r;
          } else {
            w = std::exp(-r * r / (2 * 1.3 * 1.3));
          }
          w_max = std::max(w_max, w);
          for (int c = 0; c < classes; ++c)
            for (int k = 0; k < d; ++k)
              jac[c * d + k] += as[j * classes + c] * t * w * (xs[j * d + k] - xs[i * d + k]);
        }
        for (int c = 0; c < classes; ++c)
          for (int p = 0; p < d; ++p)
            for (int q = 0; q < d; ++q) g_ref[p * d + q] += jac[c * d + p] * jac[c * d + q] / n;
      }
      for (auto shape : test::all_grid_shapes()) {
        for (int block : {4, 64}) {
          la::ProcessGrid grid(world, shape);
          coverage.saw(grid);
          la::DistMatrix<double> x(grid, n, d, block), a(grid, n, classes, block);
          la::assign_from_replicated(x, xs.data());
          la::assign_from_replicated(a, as.data());
          la::DistMatrix<double> w(grid, n, n, block);
          const auto stats = model::assemble_kernel(kernel, x, 0, n, x, true, w);
          model::kernel_to_gradient_weights(kernel, stats, w);
          const auto g = model::agop(kernel, w, x, a);
          const double rel = max_abs_diff(g, g_ref) / frobenius(g_ref);
          BOOST_TEST_MESSAGE("agop relative error " << rel << " (max weight " << w_max << ")");
          DEEPRFM_CHECK_ALL(rel < 10 * n * kEps * w_max);
          bool symmetric = true;
          for (int p = 0; p < d; ++p)
            for (int q = 0; q < d; ++q) symmetric = symmetric && g[p * d + q] == g[q * d + p];
          DEEPRFM_CHECK_ALL(symmetric);
        }
      }
    }
  }
  coverage.check();
}

BOOST_AUTO_TEST_CASE(matrix_square_root_and_clipping) {
  auto world = mpi::Communicator::world();
  const int d = 8;
  std::mt19937_64 gen(3);
  std::normal_distribution<double> normal;
  std::vector<double> b(d * 5);
  for (auto& v : b) v = normal(gen);
  // G = B B^T (rank 5: three zero eigenvalues that round-off may make slightly negative).
  std::vector<double> g(d * d, 0.0);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j)
      for (int k = 0; k < 5; ++k) g[i * d + j] += b[i * 5 + k] * b[j * 5 + k];
  const auto s = la::symmetric_sqrt(g, d, world);
  std::vector<double> ss(d * d, 0.0);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j)
      for (int k = 0; k < d; ++k) ss[i * d + j] += s.sqrt[i * d + k] * s.sqrt[k * d + j];
  DEEPRFM_CHECK_ALL(max_abs_diff(ss, g) < 1e3 * d * kEps * frobenius(g));
  DEEPRFM_CHECK_ALL(std::is_sorted(s.eigenvalues.begin(), s.eigenvalues.end()));
  // A negative-definite direction is clipped, not square-rooted into NaN.
  std::vector<double> neg(d * d, 0.0);
  for (int i = 0; i < d; ++i) neg[i * d + i] = i == 0 ? -1.0 : 4.0;
  const auto sn = la::symmetric_sqrt(neg, d, world);
  DEEPRFM_CHECK_ALL(sn.clipped == 1);
  DEEPRFM_CHECK_ALL(std::abs(sn.sqrt[0]) < kEps && std::abs(sn.sqrt[d + 1] - 2.0) < 10 * kEps);
}

BOOST_AUTO_TEST_CASE(feature_map_is_rank_independent_and_matches_serial) {
  test::GridCoverage coverage("test_rfm_core feature map");
  auto world = mpi::Communicator::world();
  const int n = 17, d = 6, width = 10;
  const auto w1 = model::random_feature_matrix(width, d, 42, 3, model::FeatureInit::gaussian);
  const auto w2 = model::random_feature_matrix(width, d, 42, 3, model::FeatureInit::gaussian);
  const auto w3 = model::random_feature_matrix(width, d, 42, 4, model::FeatureInit::gaussian);
  BOOST_CHECK(w1 == w2);
  BOOST_CHECK(w1 != w3);
  const auto wu = model::random_feature_matrix(width, d, 42, 3, model::FeatureInit::uniform);
  const double bound = 1.0 / std::sqrt(double(d));
  BOOST_CHECK(std::all_of(wu.begin(), wu.end(), [&](double v) { return std::abs(v) <= bound; }));
  // Every rank drew the same bits.
  std::vector<double> sum = w1;
  world.sum_in_place(sum.data(), sum.size());
  bool same = true;
  for (std::size_t i = 0; i < sum.size(); ++i) same = same && sum[i] == world.size() * w1[i];
  DEEPRFM_CHECK_ALL(same);

  const auto xs = sample_points(n, d, 2, false);
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    coverage.saw(grid);
    la::DistMatrix<double> x(grid, n, d, 4), out(grid, n, width, 4);
    la::assign_from_replicated(x, xs.data());
    model::apply_random_features(x, w1, width, out);
    const auto of = la::replicate(out);
    double err = 0;
    for (int i = 0; i < n; ++i)
      for (int r = 0; r < width; ++r) {
        double v = 0;
        for (int k = 0; k < d; ++k) v += xs[i * d + k] * w1[r * d + k];
        err = std::max(err, std::abs(of[i * width + r] - std::max(v, 0.0)));
      }
    DEEPRFM_CHECK_ALL(err < 10 * d * kEps * 10);
  }
  coverage.check();
}
