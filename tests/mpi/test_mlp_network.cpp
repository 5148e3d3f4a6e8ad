// The MLP's numerical core against serial references: MSE gradients against central finite
// differences, the batched AGOP against a brute-force per-sample Jacobian (finite differences
// and per-sample backpropagation, locally and over the distributed training set), and the
// layer-wise NC1 decomposition on constructed examples whose answer is known.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/mlp/measurements.hpp>
#include <deeprfm/mlp/network.hpp>
#include <deeprfm/mlp/row_shards.hpp>
#include <deeprfm/mlp/trainer.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

namespace {

std::vector<double> normals(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> v(count);
  for (auto& x : v) x = normal(engine);
  return v;
}

/// Naive per-sample reference: the network applied from layer `from` to a single vector h
/// (the input of hidden layer `from`; from == L means h is the readout's input).
std::vector<double> apply_from(const mlp::Network& net, int from, std::vector<double> h) {
  for (int l = from; l <= net.hidden_layers(); ++l) {
    const int in = net.in_dim(l), out = net.out_dim(l);
    std::vector<double> z(static_cast<std::size_t>(out), 0.0);
    for (int o = 0; o < out; ++o)
      for (int i = 0; i < in; ++i)
        z[static_cast<std::size_t>(o)] +=
            net.weight(l)[static_cast<std::size_t>(o) * in + i] * h[static_cast<std::size_t>(i)];
    if (l < net.hidden_layers())
      for (auto& v : z) v = std::max(v, 0.0);
    h = std::move(z);
  }
  return h;
}

/// Per-sample input of hidden layer l for the sample x (naive).
std::vector<double> layer_input(const mlp::Network& net, int l, std::vector<double> h) {
  for (int k = 0; k < l; ++k) {
    const int in = net.in_dim(k), out = net.out_dim(k);
    std::vector<double> z(static_cast<std::size_t>(out), 0.0);
    for (int o = 0; o < out; ++o)
      for (int i = 0; i < in; ++i)
        z[static_cast<std::size_t>(o)] +=
            net.weight(k)[static_cast<std::size_t>(o) * in + i] * h[static_cast<std::size_t>(i)];
    for (auto& v : z) v = std::max(v, 0.0);
    h = std::move(z);
  }
  return h;
}

/// Exact per-sample Jacobian d f / d H_l (C x in_dim(l), row-major) by per-sample
/// backpropagation (naive loops; the reference for the batched code).
std::vector<double> jacobian_backprop(const mlp::Network& net, int l,
                                      const std::vector<double>& x) {
  const int L = net.hidden_layers(), C = net.classes();
  std::vector<std::vector<double>> hs{layer_input(net, l, x)};  // inputs of layers l..L
  for (int k = l; k < L; ++k) {
    const int in = net.in_dim(k), out = net.out_dim(k);
    std::vector<double> z(static_cast<std::size_t>(out), 0.0);
    for (int o = 0; o < out; ++o)
      for (int i = 0; i < in; ++i)
        z[static_cast<std::size_t>(o)] += net.weight(k)[static_cast<std::size_t>(o) * in + i] *
                                          hs.back()[static_cast<std::size_t>(i)];
    for (auto& v : z) v = std::max(v, 0.0);
    hs.push_back(std::move(z));
  }
  // J = W_L D_{L-1} W_{L-1} ... D_l W_l, D_k = diag(1[h_{k+1} > 0]).
  std::vector<double> j(net.weight(L), net.weight(L) + static_cast<std::size_t>(C) * net.width());
  int cols = net.width();
  for (int k = L - 1; k >= l; --k) {
    const auto& mask = hs[static_cast<std::size_t>(k - l + 1)];
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < cols; ++i)
        if (!(mask[static_cast<std::size_t>(i)] > 0)) j[static_cast<std::size_t>(c) * cols + i] = 0;
    const int in = net.in_dim(k);
    std::vector<double> next(static_cast<std::size_t>(C) * in, 0.0);
    for (int c = 0; c < C; ++c)
      for (int o = 0; o < cols; ++o)
        for (int i = 0; i < in; ++i)
          next[static_cast<std::size_t>(c) * in + i] +=
              j[static_cast<std::size_t>(c) * cols + o] *
              net.weight(k)[static_cast<std::size_t>(o) * in + i];
    j = std::move(next);
    cols = in;
  }
  return j;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

/// Column-major rows x d copy of a row-major array.
std::vector<double> to_column_major(const std::vector<double>& rm, int rows, int d) {
  std::vector<double> cm(rm.size());
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < d; ++j)
      cm[static_cast<std::size_t>(j) * rows + i] = rm[static_cast<std::size_t>(i) * d + j];
  return cm;
}

}  // namespace

BOOST_AUTO_TEST_CASE(mse_gradient_matches_central_finite_differences) {
  const int d = 5, h = 4, L = 3, C = 3, rows = 7;
  mlp::Network net = mlp::make_network(d, h, L, C, 1.0, 11);
  const std::vector<double> x_rm = normals(static_cast<std::size_t>(rows) * d, 5);
  const std::vector<double> x = to_column_major(x_rm, rows, d);
  const std::vector<int> labels = {0, 1, 2, 0, 1, 2, 1};
  mlp::Workspace ws;
  std::vector<double> grad(net.parameter_count(), 0.0);
  const double sse =
      mlp::accumulate_mse_gradient(net, x.data(), rows, rows, labels.data(), rows, grad.data(), ws);
  auto loss = [&](const mlp::Network& n) {
    mlp::Activations act;
    mlp::forward(n, x.data(), rows, rows, act);
    double s = 0;
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < rows; ++i) {
        const double r = act.output[static_cast<std::size_t>(c) * rows + i] -
                         (labels[static_cast<std::size_t>(i)] == c ? 1.0 : -1.0);
        s += r * r;
      }
    return s / (rows * C);
  };
  // The same rows * C squares summed in two orders (BOOST_CHECK_CLOSE takes percent).
  BOOST_CHECK_CLOSE(sse / (rows * C), loss(net), 100 * test::tol(rows * C, 16));
  std::vector<double> fd(grad.size());
  const double step = 1e-6;
  // Central differences: rounding of the loss (rows * C terms of O(1)) over the step, plus the
  // truncation step^2 (f''' = O(1) here); 20 times both.
  const double fd_tol = 20 * (test::tol(rows * C, 1) / step + step * step);
  for (std::size_t p = 0; p < grad.size(); ++p) {
    mlp::Network plus = net, minus = net;
    plus.parameters()[p] += step;
    minus.parameters()[p] -= step;
    fd[p] = (loss(plus) - loss(minus)) / (2 * step);
  }
  const double rel = max_abs_diff(grad, fd) / max_abs(fd);
  BOOST_TEST_MESSAGE("gradient vs finite differences: relative error " << rel << " (tolerance "
                                                                       << fd_tol << ")");
  DEEPRFM_CHECK_ALL(rel < fd_tol);

  // The data-parallel split: two disjoint shares of the minibatch, each scaled by the whole
  // minibatch size, add up to the minibatch gradient.
  std::vector<double> split(net.parameter_count(), 0.0);
  const int first = 3;
  const std::vector<double> xa =
      to_column_major(std::vector<double>(x_rm.begin(), x_rm.begin() + first * d), first, d);
  const std::vector<double> xb =
      to_column_major(std::vector<double>(x_rm.begin() + first * d, x_rm.end()), rows - first, d);
  mlp::accumulate_mse_gradient(net, xa.data(), first, first, labels.data(), rows, split.data(), ws);
  mlp::accumulate_mse_gradient(net, xb.data(), rows - first, rows - first, labels.data() + first,
                               rows, split.data(), ws);
  // Every entry is a sum over the rows, split into two partial sums.
  BOOST_TEST_MESSAGE("split gradient: " << max_abs_diff(split, grad) / max_abs(grad));
  DEEPRFM_CHECK_ALL(max_abs_diff(split, grad) <= test::tol(rows, 6) * max_abs(grad));
}

BOOST_AUTO_TEST_CASE(batched_agop_matches_per_sample_jacobians) {
  const int d = 6, h = 5, L = 3, C = 3, rows = 9;
  mlp::Network net = mlp::make_network(d, h, L, C, 1.5, 3);
  const std::vector<double> x_rm = normals(static_cast<std::size_t>(rows) * d, 8);
  const std::vector<double> x = to_column_major(x_rm, rows, d);
  mlp::Workspace ws;
  std::vector<std::vector<double>> agop;
  mlp::accumulate_agop(net, x.data(), rows, rows, agop, ws);
  BOOST_REQUIRE_EQUAL(static_cast<int>(agop.size()), L);
  const double step = 1e-6;  // of the finite differences
  for (int l = 0; l < L; ++l) {
    const int in = net.in_dim(l);
    std::vector<double> ref_fd(static_cast<std::size_t>(in) * in, 0.0), ref_bp = ref_fd;
    for (int i = 0; i < rows; ++i) {
      const std::vector<double> xi(x_rm.begin() + i * d, x_rm.begin() + (i + 1) * d);
      const std::vector<double> hi = layer_input(net, l, xi);
      // Jacobian by central finite differences with respect to H_l.
      std::vector<double> jfd(static_cast<std::size_t>(C) * in);
      for (int k = 0; k < in; ++k) {
        auto hp = hi, hm = hi;
        hp[static_cast<std::size_t>(k)] += step;
        hm[static_cast<std::size_t>(k)] -= step;
        const auto fp = apply_from(net, l, hp), fm = apply_from(net, l, hm);
        for (int c = 0; c < C; ++c)
          jfd[static_cast<std::size_t>(c) * in + k] =
              (fp[static_cast<std::size_t>(c)] - fm[static_cast<std::size_t>(c)]) / (2 * step);
      }
      const std::vector<double> jbp = jacobian_backprop(net, l, xi);
      for (int a = 0; a < in; ++a)
        for (int b = 0; b < in; ++b)
          for (int c = 0; c < C; ++c) {
            ref_fd[static_cast<std::size_t>(a) * in + b] +=
                jfd[static_cast<std::size_t>(c) * in + a] *
                jfd[static_cast<std::size_t>(c) * in + b];
            ref_bp[static_cast<std::size_t>(a) * in + b] +=
                jbp[static_cast<std::size_t>(c) * in + a] *
                jbp[static_cast<std::size_t>(c) * in + b];
          }
    }
    const auto& g = agop[static_cast<std::size_t>(l)];
    const double err_bp = max_abs_diff(g, ref_bp) / max_abs(ref_bp);
    const double err_fd = max_abs_diff(g, ref_fd) / max_abs(ref_fd);
    // Backprop: the same sums over rows * C Jacobian products in another order. Finite
    // differences: each Jacobian entry carries (in roundings) / step + step^2, twice in the
    // product.
    const double fd_tol = 20 * (test::tol(in, 1) / step + step * step);
    BOOST_TEST_MESSAGE("layer " << l << ": AGOP vs per-sample backprop " << err_bp
                                << ", vs finite differences " << err_fd << " (tolerance " << fd_tol
                                << ")");
    DEEPRFM_CHECK_ALL(err_bp < test::tol(rows * C, 16));
    DEEPRFM_CHECK_ALL(err_fd < fd_tol);
    DEEPRFM_CHECK_ALL(max_abs(ref_bp) > 0);
  }
}

BOOST_AUTO_TEST_CASE(distributed_agop_matches_brute_force_over_the_training_set) {
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  data::DataOptions options;
  options.kind = "synthetic";
  options.n = 37;  // does not divide the rank counts
  options.n_test = -1;
  options.dim = 7;
  options.classes = 3;
  auto data = data::load_train_test(options, grid, 4);
  mlp::MlpConfig config;
  config.hidden_layers = 3;
  config.hidden_width = 6;
  config.agop_chunk_rows = 5;  // several chunks per rank
  mlp::Trainer trainer(config, data);
  const mlp::Measurement m = trainer.measure(0);
  const std::vector<double> x = la::replicate(data.train.x);
  const int n = data.train.n(), d = data.train.dim();
  const mlp::Network& net = trainer.network();
  for (int l = 0; l < config.hidden_layers; ++l) {
    const int in = net.in_dim(l);
    std::vector<double> ref(static_cast<std::size_t>(in) * in, 0.0);
    for (int i = 0; i < n; ++i) {
      const std::vector<double> xi(x.begin() + i * d, x.begin() + (i + 1) * d);
      const auto j = jacobian_backprop(net, l, xi);
      for (int a = 0; a < in; ++a)
        for (int b = 0; b < in; ++b)
          for (int c = 0; c < net.classes(); ++c)
            ref[static_cast<std::size_t>(a) * in + b] += j[static_cast<std::size_t>(c) * in + a] *
                                                         j[static_cast<std::size_t>(c) * in + b] /
                                                         n;
    }
    const double err = max_abs_diff(m.layers[static_cast<std::size_t>(l)].agop, ref) / max_abs(ref);
    const auto gram = mlp::weight_gram(net, l);
    const double corr_diff =
        std::abs(m.layers[static_cast<std::size_t>(l)].nfa_corr - mlp::pearson(gram, ref));
    BOOST_TEST_MESSAGE("layer " << l << ": distributed AGOP vs brute force " << err
                                << ", correlation " << corr_diff);
    // Sums over the n rows in another order (chunks, ranks).
    DEEPRFM_CHECK_ALL(err < test::tol(n, 64));
    // The NFA numbers are correlations of W^T W with this AGOP: centred sums over in^2 entries
    // of an AGOP that agrees to 64 n eps; the centring may cancel, hence 1000 n eps.
    DEEPRFM_CHECK_ALL(corr_diff < test::tol(n, 1000));
  }
}

BOOST_AUTO_TEST_CASE(nc1_decomposition_on_constructed_layers) {
  auto world = mpi::Communicator::world();
  la::ProcessGrid column_grid(world, {world.size(), 1});
  // Features: class means live in coordinates 0 and 1, within-class noise in 2..5.
  const int n = 30, p = 6, C = 3;
  std::vector<int> labels(n);
  for (int i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = i * C / n;
  const std::vector<double> noise = normals(static_cast<std::size_t>(n) * p, 21);
  const double means[3][2] = {{1.0, 0.0}, {-0.5, 0.8}, {-0.5, -0.8}};
  la::DistMatrix<double> h = mlp::make_row_sharded(column_grid, n, p);
  h.for_each_local([&](int i, int j, double& v) {
    const int c = labels[static_cast<std::size_t>(i)];
    v = j < 2 ? 3.0 + means[c][j] : 0.7 * noise[static_cast<std::size_t>(i) * p + j];
  });
  // (a) W (4 x 6) reads only coordinates 0 and 1: its V spans the mean directions, so
  // Sigma V^T kills every within-class difference: NC1(Sigma V^T H) = 0.
  std::vector<double> w(4 * p, 0.0);
  const std::vector<double> r = normals(8, 4);
  for (int o = 0; o < 4; ++o)
    for (int j = 0; j < 2; ++j)
      w[static_cast<std::size_t>(o) * p + j] = r[static_cast<std::size_t>(o) * 2 + j];
  const mlp::LayerCollapse a = mlp::layer_collapse(h, w, 4, p, labels, C);
  BOOST_TEST_MESSAGE("killing W: NC1 " << a.input.nc1 << " -> " << a.projected.nc1 << " -> "
                                       << a.mapped.nc1);
  DEEPRFM_CHECK_ALL(a.input.nc1 > 0.1);
  // What survives of the within-class differences is the round-off of V (p eps relative), so
  // the variance ratio NC1 is that squared.
  const double killed = std::pow(test::tol(p, 1000), 2);
  BOOST_TEST_MESSAGE("killed NC1 " << a.projected.nc1 << ", " << a.mapped.nc1 << " (tolerance "
                                   << killed << "); singular values " << a.singular_values[0]
                                   << " ... " << a.singular_values[2]);
  DEEPRFM_CHECK_ALL(a.projected.nc1 < killed);
  DEEPRFM_CHECK_ALL(a.mapped.nc1 < killed);
  // W has rank 2: its third singular value is the round-off of dgesdd, p eps ||W||_2.
  DEEPRFM_CHECK_ALL(a.singular_values.size() == 4u &&
                    a.singular_values[2] < test::tol(p, 1) * a.singular_values[0]);

  // (b) A full-rank square W: U is a rotation, so NC1 and NC2 of Sigma V^T H equal those of
  // the whole linear layer W H (the paper's identity); Sigma V^T matches a serial reference.
  const std::vector<double> w2 = normals(static_cast<std::size_t>(p) * p, 9);
  const mlp::LayerCollapse b = mlp::layer_collapse(h, w2, p, p, labels, C);
  la::DistMatrix<double> linear = mlp::make_row_sharded(column_grid, n, p);
  mlp::multiply_rows_local(h, w2.data(), p, p, false, linear);
  const model::CollapseMetrics lin = model::neural_collapse(linear, labels, C);
  BOOST_TEST_MESSAGE("full-rank W: NC1 " << b.input.nc1 << " -> " << b.projected.nc1
                                         << " (W H: " << lin.nc1 << ") -> " << b.mapped.nc1);
  // Sums over the n rows of rotated features: 16 n eps; NC2 and NC1 (pinv) go through
  // eigen/pseudo-inverse steps of C x C and p x p matrices: 1000 n eps.
  BOOST_TEST_MESSAGE("Sigma V^T H vs W H: nc1 "
                     << test::rel_diff(b.projected.nc1, lin.nc1) << ", nc2_etf "
                     << std::abs(b.projected.nc2_etf - lin.nc2_etf) << ", nc1_pinv "
                     << test::rel_diff(b.projected.nc1_pinv, lin.nc1_pinv));
  DEEPRFM_CHECK_ALL(std::abs(b.projected.nc1 - lin.nc1) <= test::tol(n, 16) * lin.nc1);
  DEEPRFM_CHECK_ALL(std::abs(b.projected.nc2_etf - lin.nc2_etf) <=
                    test::tol(n, 1000) * std::max(1.0, lin.nc2_etf));
  DEEPRFM_CHECK_ALL(std::abs(b.projected.nc1_pinv - lin.nc1_pinv) <=
                    test::tol(n, 1000) * lin.nc1_pinv);
  // And NC1 of the input against a direct serial computation.
  std::vector<double> mean(static_cast<std::size_t>(C) * p, 0.0), grand(p, 0.0);
  std::vector<int> count(C, 0);
  const auto hr = la::replicate(h);
  for (int i = 0; i < n; ++i) {
    const int c = labels[static_cast<std::size_t>(i)];
    ++count[static_cast<std::size_t>(c)];
    for (int j = 0; j < p; ++j)
      mean[static_cast<std::size_t>(c) * p + j] += hr[static_cast<std::size_t>(i) * p + j];
  }
  for (int c = 0; c < C; ++c)
    for (int j = 0; j < p; ++j) {
      mean[static_cast<std::size_t>(c) * p + j] /= count[static_cast<std::size_t>(c)];
      grand[static_cast<std::size_t>(j)] += mean[static_cast<std::size_t>(c) * p + j] / C;
    }
  double tw = 0, tb = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < p; ++j) {
      const double e = hr[static_cast<std::size_t>(i) * p + j] -
                       mean[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)]) * p + j];
      tw += e * e / n;
    }
  for (int c = 0; c < C; ++c)
    for (int j = 0; j < p; ++j) {
      const double e =
          mean[static_cast<std::size_t>(c) * p + j] - grand[static_cast<std::size_t>(j)];
      tb += e * e / C;
    }
  BOOST_TEST_MESSAGE("NC1 vs serial: " << test::rel_diff(b.input.nc1, tw / tb));
  DEEPRFM_CHECK_ALL(std::abs(b.input.nc1 - tw / tb) <= test::tol(n, 16) * (tw / tb));
}

BOOST_AUTO_TEST_CASE(initialisation_and_minibatch_order_depend_on_the_seed_only) {
  const mlp::Network a = mlp::make_network(20, 16, 3, 4, 0.5, 7);
  const mlp::Network b = mlp::make_network(20, 16, 3, 4, 0.5, 7);
  const mlp::Network c = mlp::make_network(20, 16, 3, 4, 0.5, 8);
  BOOST_CHECK(a.parameters() == b.parameters());
  BOOST_CHECK(a.parameters() != c.parameters());
  // Bounds: Xavier-uniform times the gain, readout 1/sqrt(h).
  for (int l = 0; l < a.matrices(); ++l) {
    const double bound =
        l < 3 ? 0.5 * std::sqrt(6.0 / (a.in_dim(l) + a.out_dim(l))) : 1.0 / std::sqrt(16.0);
    const std::vector<double> w(a.weight(l), a.weight(l) + a.in_dim(l) * a.out_dim(l));
    BOOST_CHECK_LE(max_abs(w), bound);
    BOOST_CHECK_GT(max_abs(w), 0.8 * bound);
  }
  const auto p1 = mlp::epoch_permutation(50, 3, 1), p2 = mlp::epoch_permutation(50, 3, 2);
  auto sorted = p1;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 50; ++i) BOOST_CHECK_EQUAL(sorted[static_cast<std::size_t>(i)], i);
  BOOST_CHECK(p1 != p2);
  BOOST_CHECK(p1 == mlp::epoch_permutation(50, 3, 1));
}
