// Neural-collapse metrics and accuracy (docs/numerics.md §10): hand-computed tiny examples,
// perfectly collapsed data, random data against a serial p x p reference on every grid shape with
// block sizes that do not divide n or p, degenerate inputs, and input errors agreed on every rank.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/model/neural_collapse.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

namespace {

using test::kEps;

/// A distributed n x p matrix holding `row_major` (the same on every rank). Local.
la::DistMatrix<double> make_matrix(const la::ProcessGrid& g, int n, int p, int block,
                                   const std::vector<double>& row_major) {
  la::DistMatrix<double> h(g, n, p, block);
  la::assign_from_replicated(h, row_major.data());
  return h;
}

/// |a - b| <= tol * max(1, |b|), combined over ranks (every rank must call).
bool close(double a, double b, double tol) {
  return std::abs(a - b) <= tol * std::max(1.0, std::abs(b));
}

/// The value is bitwise the same on every rank. Collective over MPI_COMM_WORLD.
bool same_on_all_ranks(double x) { return test::max_over_ranks(x) == -test::max_over_ranks(-x); }

bool same_on_all_ranks(const model::CollapseMetrics& m) {
  return same_on_all_ranks(m.nc1) && same_on_all_ranks(m.nc1_pinv) &&
         same_on_all_ranks(m.nc2_etf) && same_on_all_ranks(m.nc2_orth) &&
         same_on_all_ranks(m.trace_within) && same_on_all_ranks(m.trace_between) &&
         same_on_all_ranks(static_cast<double>(m.between_rank));
}

/// Straightforward serial metrics: plain loops, the p x p Sigma_W and Sigma_B, and the
/// pseudo-inverse through a dsyevd of Sigma_B (fine for the small p of a test).
model::CollapseMetrics reference_metrics(const std::vector<double>& h, int n, int p,
                                         const std::vector<int>& labels, int classes) {
  const auto P = static_cast<std::size_t>(p);
  std::vector<double> mu(classes * P, 0.0), count(classes, 0.0);
  for (int i = 0; i < n; ++i) {
    count[labels[i]] += 1;
    for (int j = 0; j < p; ++j) mu[labels[i] * P + j] += h[i * P + j];
  }
  for (int c = 0; c < classes; ++c)
    for (int j = 0; j < p; ++j) mu[c * P + j] /= count[c];
  std::vector<double> mu_g(P, 0.0);
  for (int c = 0; c < classes; ++c)
    for (int j = 0; j < p; ++j) mu_g[j] += mu[c * P + j] / classes;

  std::vector<double> sw(P * P, 0.0), sb(P * P, 0.0);
  for (int i = 0; i < n; ++i)
    for (int a = 0; a < p; ++a)
      for (int b = 0; b < p; ++b)
        sw[a * P + b] +=
            (h[i * P + a] - mu[labels[i] * P + a]) * (h[i * P + b] - mu[labels[i] * P + b]) / n;
  for (int c = 0; c < classes; ++c)
    for (int a = 0; a < p; ++a)
      for (int b = 0; b < p; ++b)
        sb[a * P + b] += (mu[c * P + a] - mu_g[a]) * (mu[c * P + b] - mu_g[b]) / classes;

  model::CollapseMetrics m;
  for (int a = 0; a < p; ++a) {
    m.trace_within += sw[a * P + a];
    m.trace_between += sb[a * P + a];
  }
  m.nc1 = m.trace_within / m.trace_between;

  // Eigen-decomposition of the p x p Sigma_B (symmetric, so row/column major do not matter).
  std::vector<double> evec = sb, w(P);
  int info = 0, lwork = -1, liwork = -1, iq = 0;
  double wq = 0;
  dsyevd_("V", "U", &p, evec.data(), &p, w.data(), &wq, &lwork, &iq, &liwork, &info);
  lwork = static_cast<int>(wq);
  liwork = iq;
  std::vector<double> work(lwork);
  std::vector<int> iwork(liwork);
  dsyevd_("V", "U", &p, evec.data(), &p, w.data(), work.data(), &lwork, iwork.data(), &liwork,
          &info);
  BOOST_REQUIRE_EQUAL(info, 0);
  double tr = 0;
  for (int k = 0; k < p; ++k) {
    if (w[k] <= w[p - 1] * 1e-10) continue;  // the random tests keep clear of this boundary
    ++m.between_rank;
    double q = 0;
    for (int a = 0; a < p; ++a)
      for (int b = 0; b < p; ++b) q += evec[k * P + a] * sw[a * P + b] * evec[k * P + b];
    tr += q / w[k];
  }
  m.nc1_pinv = tr / classes;

  auto deviation = [&](bool centred, double off) {
    std::vector<double> rows(classes * P);
    for (int c = 0; c < classes; ++c) {
      double nn = 0;
      for (int j = 0; j < p; ++j) {
        rows[c * P + j] = mu[c * P + j] - (centred ? mu_g[j] : 0.0);
        nn += rows[c * P + j] * rows[c * P + j];
      }
      for (int j = 0; j < p; ++j) rows[c * P + j] /= std::sqrt(nn);
    }
    double ss = 0;
    for (int a = 0; a < classes; ++a)
      for (int b = 0; b < classes; ++b) {
        double g = 0;
        for (int j = 0; j < p; ++j) g += rows[a * P + j] * rows[b * P + j];
        const double d = g - (a == b ? 1.0 : off);
        ss += d * d;
      }
    return std::sqrt(ss);
  };
  m.nc2_etf = deviation(true, -1.0 / (classes - 1));
  m.nc2_orth = deviation(false, 0.0);
  return m;
}

/// Run `f` expecting deeprfm::Error of `kind` on every rank.
template <class F>
bool throws_kind(F&& f, ErrorKind kind) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind() == kind;
  }
  return false;
}

}  // namespace

// C = 2, p = 2, n = 4. Class 0: (0,0), (2,0) -> mu_0 = (1,0); class 1: (4,3), (4,5) -> mu_1 =
// (4,4). Deviations (-1,0), (1,0), (0,-1), (0,1): Sigma_W = diag(1/2, 1/2), tr = 1. mu_G = (2.5,
// 2); centred means -+b, b = (1.5, 2); Sigma_B = b b^T, tr = 6.25; nc1 = 0.16. Sigma_B^+ = b b^T /
// |b|^4: tr(Sigma_W Sigma_B^+) = (1/2)|b|^2 / |b|^4 = 0.08; nc1_pinv = 0.04. Two centred means are
// always antipodal = the 2-class ETF: nc2_etf = 0. Uncentred: (1,0) and (1,1)/sqrt2, cosine
// 1/sqrt2: nc2_orth = sqrt(2 * 1/2) = 1.
BOOST_AUTO_TEST_CASE(hand_computed_two_classes) {
  const std::vector<double> h = {0, 0, 2, 0, 4, 3, 4, 5};
  const std::vector<int> labels = {0, 0, 1, 1};
  auto world = mpi::Communicator::world();
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid g(world, shape);
    for (int block : {1, 3}) {
      const auto m = model::neural_collapse(make_matrix(g, 4, 2, block, h), labels, 2);
      const double tol = 16 * kEps;
      DEEPRFM_CHECK_ALL(close(m.trace_within, 1.0, tol));
      DEEPRFM_CHECK_ALL(close(m.trace_between, 6.25, tol));
      DEEPRFM_CHECK_ALL(close(m.nc1, 0.16, tol));
      DEEPRFM_CHECK_ALL(close(m.nc1_pinv, 0.04, tol));
      DEEPRFM_CHECK_ALL(std::abs(m.nc2_etf) <= tol);
      DEEPRFM_CHECK_ALL(close(m.nc2_orth, 1.0, tol));
      DEEPRFM_CHECK_ALL(m.between_rank == 1);
      DEEPRFM_CHECK_ALL(same_on_all_ranks(m));
    }
  }
}

// C = 3, p = 2, n = 5. Class 0: (1,0), (3,0) -> mu_0 = (2,0); class 1: (0,2), (0,4) -> (0,3);
// class 2: (1,1) alone. Sigma_W = (1/5) diag(2, 2), tr = 0.8.
// mu_G = (1, 4/3); b_0 = (1, -4/3), b_1 = (-1, 5/3), b_2 = (0, -1/3).
// tr(Sigma_B) = (1/3)(25/9 + 34/9 + 1/9) = 20/9; nc1 = 0.8 * 9/20 = 0.36.
// Sigma_B = [[2/3, -1], [-1, 14/9]], det = 1/27, inverse = [[42, 27], [27, 18]] (full rank):
// tr(Sigma_W Sigma_B^-1) = 0.4 (42 + 18) = 24; nc1_pinv = 24 / 3 = 8.
// Normalised centred means m_0 = (3,-4)/5, m_1 = (-3,5)/sqrt34, m_2 = (0,-1); ETF off-diagonal
// -1/2: nc2_etf^2 = 2[(-29/(5 sqrt34) + 1/2)^2 + (4/5 + 1/2)^2 + (-5/sqrt34 + 1/2)^2].
// Uncentred: (1,0), (0,1), (1,1)/sqrt2: cosines 0, 1/sqrt2, 1/sqrt2: nc2_orth = sqrt2.
BOOST_AUTO_TEST_CASE(hand_computed_three_classes) {
  const std::vector<double> h = {1, 0, 0, 2, 3, 0, 1, 1, 0, 4};
  const std::vector<int> labels = {0, 1, 0, 2, 1};  // deliberately not sorted by class
  const double s34 = std::sqrt(34.0);
  const double a = -29.0 / (5 * s34) + 0.5, b = 0.8 + 0.5, c = -5.0 / s34 + 0.5;
  const double nc2_etf = std::sqrt(2 * (a * a + b * b + c * c));
  auto world = mpi::Communicator::world();
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid g(world, shape);
    for (int block : {1, 2, 128}) {
      const auto m = model::neural_collapse(make_matrix(g, 5, 2, block, h), labels, 3);
      const double tol = 64 * kEps;  // nc1_pinv divides by det = 1/27: a little amplification
      DEEPRFM_CHECK_ALL(close(m.trace_within, 0.8, tol));
      DEEPRFM_CHECK_ALL(close(m.trace_between, 20.0 / 9.0, tol));
      DEEPRFM_CHECK_ALL(close(m.nc1, 0.36, tol));
      DEEPRFM_CHECK_ALL(close(m.nc1_pinv, 8.0, 1000 * tol));
      DEEPRFM_CHECK_ALL(close(m.nc2_etf, nc2_etf, tol));
      DEEPRFM_CHECK_ALL(close(m.nc2_orth, std::sqrt(2.0), tol));
      DEEPRFM_CHECK_ALL(m.between_rank == 2);
      DEEPRFM_CHECK_ALL(same_on_all_ranks(m));
      // The class means themselves.
      const auto mu = model::class_means(make_matrix(g, 5, 2, block, h), labels, 3);
      const std::vector<double> expected = {2, 0, 0, 3, 1, 1};
      DEEPRFM_CHECK_ALL(mu == expected);
    }
  }
}

// Every sample at its class mean; means e_c - (1/C) 1 (a simplex ETF) plus an offset 2 in every
// coordinate, in p = C + 2 dimensions, with unequal class sizes. All values are exact binary
// fractions, so Sigma_W = 0 exactly; the centred means are the ETF, so nc2_etf = 0 to round-off.
BOOST_AUTO_TEST_CASE(perfect_collapse_simplex_etf) {
  const int classes = 4, p = classes + 2;
  const std::vector<int> sizes = {3, 1, 2, 5};
  std::vector<double> h;
  std::vector<int> labels;
  for (int c = 0; c < classes; ++c)
    for (int s = 0; s < sizes[c]; ++s) {
      labels.push_back(c);
      for (int j = 0; j < p; ++j) h.push_back(2.0 + (j < classes ? (j == c) - 1.0 / classes : 0.0));
    }
  const int n = static_cast<int>(labels.size());
  auto world = mpi::Communicator::world();
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid g(world, shape);
    for (int block : {1, 4}) {
      const auto m = model::neural_collapse(make_matrix(g, n, p, block, h), labels, classes);
      DEEPRFM_CHECK_ALL(m.trace_within == 0.0);
      DEEPRFM_CHECK_ALL(m.nc1 == 0.0);
      DEEPRFM_CHECK_ALL(m.nc1_pinv == 0.0);
      DEEPRFM_CHECK_ALL(std::abs(m.nc2_etf) <= 16 * classes * kEps);
      DEEPRFM_CHECK_ALL(close(m.trace_between, 1.0 - 1.0 / classes, 8 * kEps));
      DEEPRFM_CHECK_ALL(m.between_rank == classes - 1);
      DEEPRFM_CHECK_ALL(same_on_all_ranks(m));
    }
  }
}

// Means 3 e_c (orthogonal) with samples exactly at them: nc2_orth = 0; the centred means of an
// orthogonal equal-norm frame are a simplex ETF, so nc2_etf = 0 too.
BOOST_AUTO_TEST_CASE(perfect_collapse_orthogonal_means) {
  const int classes = 3, p = 5;
  std::vector<double> h;
  std::vector<int> labels;
  for (int i = 0; i < 8; ++i) {
    const int c = (i * 7) % classes;
    labels.push_back(c);
    for (int j = 0; j < p; ++j) h.push_back(j == c ? 3.0 : 0.0);
  }
  auto world = mpi::Communicator::world();
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid g(world, shape);
    for (int block : {1, 2}) {
      const auto m = model::neural_collapse(make_matrix(g, 8, p, block, h), labels, classes);
      DEEPRFM_CHECK_ALL(m.nc1 == 0.0);
      DEEPRFM_CHECK_ALL(m.nc1_pinv == 0.0);
      DEEPRFM_CHECK_ALL(std::abs(m.nc2_orth) <= 16 * kEps);
      DEEPRFM_CHECK_ALL(std::abs(m.nc2_etf) <= 16 * classes * kEps);
      DEEPRFM_CHECK_ALL(same_on_all_ranks(m));
    }
  }
}

// Random clustered data against the serial reference, on every grid shape, with block sizes
// that divide neither n nor p, and with p < C - 1 (Sigma_B of rank p, C x C Gram singular),
// p > C (Sigma_B of rank C - 1 in a larger space) and a matrix held by one rank (block 128).
BOOST_AUTO_TEST_CASE(random_data_matches_serial_reference) {
  struct Case {
    int n, p, classes, block;
    double offset;
  };
  const std::vector<Case> cases = {{37, 11, 4, 3, 0.0},
                                   {29, 3, 6, 2, 5.0},
                                   {60, 25, 3, 7, 10.0},
                                   {41, 9, 5, 128, -3.0},
                                   {23, 13, 10, 4, 1.0}};
  auto world = mpi::Communicator::world();
  double worst = 0;
  for (const auto& cs : cases) {
    std::mt19937_64 rng(1234 + cs.n);
    std::normal_distribution<double> normal;
    std::vector<double> centres(cs.classes * cs.p);
    for (double& x : centres) x = 2.0 * normal(rng);
    std::vector<int> labels(cs.n);
    for (int i = 0; i < cs.n; ++i) labels[i] = i % cs.classes;
    std::shuffle(labels.begin(), labels.end(), rng);
    std::vector<double> h(static_cast<std::size_t>(cs.n) * cs.p);
    for (int i = 0; i < cs.n; ++i)
      for (int j = 0; j < cs.p; ++j)
        h[i * cs.p + j] = cs.offset + centres[labels[i] * cs.p + j] + 0.7 * normal(rng);
    const auto ref = reference_metrics(h, cs.n, cs.p, labels, cs.classes);

    for (auto shape : test::all_grid_shapes()) {
      la::ProcessGrid g(world, shape);
      const auto m =
          model::neural_collapse(make_matrix(g, cs.n, cs.p, cs.block, h), labels, cs.classes);
      const double tol = 50.0 * cs.n * kEps;
      auto rel = [](double a, double b) { return std::abs(a - b) / std::max(1.0, std::abs(b)); };
      const double err =
          std::max({rel(m.nc1, ref.nc1), rel(m.nc1_pinv, ref.nc1_pinv), rel(m.nc2_etf, ref.nc2_etf),
                    rel(m.nc2_orth, ref.nc2_orth), rel(m.trace_within, ref.trace_within),
                    rel(m.trace_between, ref.trace_between)});
      worst = std::max(worst, err / (cs.n * kEps));
      DEEPRFM_CHECK_ALL(err <= tol);
      DEEPRFM_CHECK_ALL(m.between_rank == std::min(cs.p, cs.classes - 1));
      DEEPRFM_CHECK_ALL(m.between_rank == ref.between_rank);
      DEEPRFM_CHECK_ALL(same_on_all_ranks(m));
    }
  }
  BOOST_TEST_MESSAGE("worst relative error / (n eps) = " << worst);
}

// A large common offset must not cost the class means accuracy (two-pass means): the error
// stays at the rounding of the result, not n eps |offset|.
BOOST_AUTO_TEST_CASE(class_means_with_large_offset) {
  const int n = 1001, p = 3, classes = 2;
  const double offset = 1e6;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> uni(-1.0, 1.0);
  std::vector<double> h(n * p);
  std::vector<int> labels(n);
  for (int i = 0; i < n; ++i) {
    labels[i] = (i % 3 == 0) ? 1 : 0;
    for (int j = 0; j < p; ++j) h[i * p + j] = offset + uni(rng);
  }
  std::vector<long double> ref(classes * p, 0.0L), count(classes, 0.0L);
  for (int i = 0; i < n; ++i) {
    count[labels[i]] += 1;
    for (int j = 0; j < p; ++j) ref[labels[i] * p + j] += h[i * p + j];
  }
  auto world = mpi::Communicator::world();
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid g(world, shape);
    const auto mu = model::class_means(make_matrix(g, n, p, 5, h), labels, classes);
    double err = 0;
    for (int c = 0; c < classes; ++c)
      for (int j = 0; j < p; ++j)
        err =
            std::max(err, static_cast<double>(std::abs(mu[c * p + j] - ref[c * p + j] / count[c])));
    DEEPRFM_CHECK_ALL(err <= 2 * kEps * offset);
    bool same = true;
    for (double x : mu) same = same && same_on_all_ranks(x);
    DEEPRFM_CHECK_ALL(same);
  }
}

// All samples equal: no collapse geometry at all. Nothing throws; the undefined metrics are NaN
// (0/0, no between-class directions, centred means of norm 0) and nc2_orth is defined.
BOOST_AUTO_TEST_CASE(degenerate_features_give_nan_not_errors) {
  const std::vector<double> h = {1, 2, 1, 2, 1, 2, 1, 2};
  const std::vector<int> labels = {0, 1, 0, 1};
  auto world = mpi::Communicator::world();
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid g(world, shape);
    const auto m = model::neural_collapse(make_matrix(g, 4, 2, 1, h), labels, 2);
    DEEPRFM_CHECK_ALL(m.trace_within == 0.0 && m.trace_between == 0.0);
    DEEPRFM_CHECK_ALL(std::isnan(m.nc1));
    DEEPRFM_CHECK_ALL(std::isnan(m.nc1_pinv) && m.between_rank == 0);
    DEEPRFM_CHECK_ALL(std::isnan(m.nc2_etf));
    DEEPRFM_CHECK_ALL(close(m.nc2_orth, std::sqrt(2.0), 8 * kEps));  // M M^T = all ones
  }
}

// Input errors are decided from replicated labels: every rank throws the same Error(input) and
// none is left in a collective (a hang would time the test out).
BOOST_AUTO_TEST_CASE(input_errors_on_every_rank) {
  const std::vector<double> h = {0, 1, 2, 3, 4, 5, 6, 7};
  auto world = mpi::Communicator::world();
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid g(world, shape);
    const auto x = make_matrix(g, 4, 2, 1, h);
    // Class 1 of 3 is empty.
    DEEPRFM_CHECK_ALL(throws_kind(
        [&] {
          model::neural_collapse(x, {0, 0, 2, 2}, 3);
        },
        ErrorKind::input));
    DEEPRFM_CHECK_ALL(throws_kind(
        [&] {
          model::class_means(x, {0, 0, 2, 2}, 3);
        },
        ErrorKind::input));
    // A label out of range, a wrong label count, a single class.
    DEEPRFM_CHECK_ALL(throws_kind(
        [&] {
          model::neural_collapse(x, {0, 1, 2, 1}, 2);
        },
        ErrorKind::input));
    DEEPRFM_CHECK_ALL(throws_kind(
        [&] {
          model::neural_collapse(x, {0, 1, -1, 1}, 2);
        },
        ErrorKind::input));
    DEEPRFM_CHECK_ALL(throws_kind(
        [&] {
          model::neural_collapse(x, {0, 1, 0}, 2);
        },
        ErrorKind::input));
    DEEPRFM_CHECK_ALL(throws_kind(
        [&] {
          model::neural_collapse(x, {0, 0, 0, 0}, 1);
        },
        ErrorKind::input));
    // The grid is still usable afterwards (nobody is stuck in a collective).
    const auto m = model::neural_collapse(x, {0, 1, 0, 1}, 2);
    DEEPRFM_CHECK_ALL(same_on_all_ranks(m));
  }
}

// Hand-made predictions (C = 3) with ties inside a block and across process columns, a NaN
// entry, a NaN row and all-equal rows. Correct rows: 0, 1, 3, 6, 7, 9 -> 6 / 10.
BOOST_AUTO_TEST_CASE(accuracy_with_ties) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> pred = {
      0.1, 0.7, 0.2,  // argmax 1, label 1: correct
      1,   1,   0,    // tie 0/1 -> 0, label 0: correct
      1,   1,   0,    // tie 0/1 -> 0, label 1: wrong
      0,   5,   5,    // tie 1/2 -> 1, label 1: correct
      0,   5,   5,    // tie 1/2 -> 1, label 2: wrong
      -1,  -2,  -1,   // tie 0/2 -> 0, label 2: wrong
      -3,  -2,  -1,   // argmax 2, label 2: correct
      nan, 2,   1,    // NaN never wins: argmax 1, label 1: correct
      nan, nan, nan,  // no argmax: wrong
      2,   2,   2,    // tie everywhere -> 0, label 0: correct
  };
  const std::vector<int> labels = {1, 0, 1, 1, 2, 2, 2, 1, 0, 0};
  auto world = mpi::Communicator::world();
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid g(world, shape);
    for (int block : {1, 2, 3, 128}) {
      const double acc = model::accuracy(make_matrix(g, 10, 3, block, pred), labels);
      DEEPRFM_CHECK_ALL(acc == 0.6);
    }
    // No samples: NaN, on every rank, without a hang.
    la::DistMatrix<double> empty(g, 0, 3, 2);
    DEEPRFM_CHECK_ALL(std::isnan(model::accuracy(empty, {})));
    // A label outside the classes, a wrong count.
    const auto x = make_matrix(g, 10, 3, 1, pred);
    std::vector<int> bad = labels;
    bad[4] = 3;
    DEEPRFM_CHECK_ALL(throws_kind([&] { model::accuracy(x, bad); }, ErrorKind::input));
    DEEPRFM_CHECK_ALL(throws_kind([&] { model::accuracy(x, {0, 1}); }, ErrorKind::input));
  }
}

// Accuracy on random predictions against a serial argmax, with more classes than one process
// column holds and a block that divides neither n nor C.
BOOST_AUTO_TEST_CASE(accuracy_random_matches_serial) {
  const int n = 53, classes = 7;
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<int> small(0, 4);  // few distinct values: many ties
  std::vector<double> pred(n * classes);
  for (double& x : pred) x = small(rng);
  std::vector<int> labels(n);
  int correct = 0;
  for (int i = 0; i < n; ++i) {
    labels[i] = small(rng) % classes;
    const auto row = pred.begin() + i * classes;
    correct += (std::max_element(row, row + classes) - row) == labels[i];
  }
  auto world = mpi::Communicator::world();
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid g(world, shape);
    for (int block : {1, 2, 5}) {
      const double acc = model::accuracy(make_matrix(g, n, classes, block, pred), labels);
      DEEPRFM_CHECK_ALL(acc == static_cast<double>(correct) / n);
    }
  }
}
