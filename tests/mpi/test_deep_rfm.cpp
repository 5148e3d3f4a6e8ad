// Whole multi-layer Deep RFM runs: the same metrics and features (relative 200 n eps) on every
// grid shape and block size as on a single rank, and an end-to-end run on real Fashion-MNIST
// that shows the collapse forming at the X S stage (Fashion-MNIST missing is a failure).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/rfm/deep_rfm.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

namespace {

struct RunOutput {
  std::vector<rfm::LayerResult> layers;
  std::vector<double> features;       // final training features, replicated
  std::vector<double> test_features;  // final test features, replicated
};

RunOutput run_deep_rfm(const mpi::Communicator& comm, la::GridShape shape, int block,
                       const data::DataOptions& data_options, rfm::ModelConfig model,
                       test::GridCoverage* coverage = nullptr) {
  la::ProcessGrid grid(comm, shape);
  if (coverage) coverage->saw(grid);
  model.block = block;
  auto data = data::load_train_test(data_options, grid, block);
  rfm::DeepRfm deep(model, grid);
  RunOutput out;
  for (int l = 0; l < model.layers; ++l)
    out.layers.push_back(deep.run_layer(l, data.train.x, data.train.labels, data.train.classes,
                                        data.test.x, data.test.labels));
  out.features = la::replicate(data.train.x);
  out.test_features = la::replicate(data.test.x);
  return out;
}

double worst_metric_diff(const RunOutput& a, const RunOutput& b) {
  double worst = 0;
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    const auto &x = a.layers[l], &y = b.layers[l];
    for (auto [p, q] : {std::pair{&x.input, &y.input}, std::pair{&x.projected, &y.projected},
                        std::pair{&x.mapped, &y.mapped}}) {
      worst = std::max(
          {worst, test::rel_diff(p->nc1, q->nc1), test::rel_diff(p->nc1_pinv, q->nc1_pinv),
           test::rel_diff(p->nc2_etf, q->nc2_etf), test::rel_diff(p->nc2_orth, q->nc2_orth)});
    }
    worst = std::max({worst, test::rel_diff(x.train_accuracy, y.train_accuracy),
                      test::rel_diff(x.test_accuracy, y.test_accuracy),
                      test::max_rel_diff(x.agop, y.agop)});
  }
  return worst;
}

}  // namespace

BOOST_AUTO_TEST_CASE(multi_layer_run_is_independent_of_ranks_grid_and_block_size) {
  auto world = mpi::Communicator::world();
  data::DataOptions data_options;
  data_options.kind = "synthetic";
  data_options.n = 150;
  data_options.n_test = 45;
  data_options.dim = 20;
  data_options.classes = 3;
  data_options.separation = 0.7;
  rfm::ModelConfig model;
  model.layers = 3;
  model.width = 40;
  model.seed = 5;

  // Reference: every rank runs the whole thing alone on a 1x1 grid.
  const auto self = world.split(world.rank(), 0);
  const RunOutput reference = run_deep_rfm(self, {1, 1}, 32, data_options, model);
  BOOST_REQUIRE_EQUAL(reference.layers.size(), 3u);
  double cond = 1;
  for (const auto& l : reference.layers) cond = std::max(cond, 1.0 / l.rcond);
  // Only the summation order differs between grids and block sizes. Each step (Gram, Cholesky,
  // AGOP, square root, feature map) is backward stable to c n eps; the solve's condition (cond,
  // <= 5e3 here) does not reach the metrics and features, which see A through sums over n.
  // Measured: <= 2.5 n eps on every grid up to 6 ranks; 200 n eps (6.7e-12) leaves 80x.
  const double whole_run_tol = test::tol(data_options.n, 200);
  BOOST_TEST_MESSAGE("largest condition estimate of K over the layers: " << cond << "; tolerance "
                                                                         << whole_run_tol);
  test::GridCoverage coverage("test_deep_rfm whole runs");
  for (auto shape : test::all_grid_shapes()) {
    for (int block : {4, 7, 64}) {
      const RunOutput run = run_deep_rfm(world, shape, block, data_options, model, &coverage);
      const double metrics = worst_metric_diff(run, reference);
      const double features = test::max_rel_diff(run.features, reference.features);
      const double test_features = test::max_rel_diff(run.test_features, reference.test_features);
      BOOST_TEST_MESSAGE("grid " << shape.str() << " block " << block << ": metrics " << metrics
                                 << " features " << features << " test " << test_features);
      DEEPRFM_CHECK_ALL(metrics < whole_run_tol);
      DEEPRFM_CHECK_ALL(features < whole_run_tol);
      DEEPRFM_CHECK_ALL(test_features < whole_run_tol);
    }
  }
  coverage.check();
}

BOOST_AUTO_TEST_CASE(fashion_mnist_collapses_at_the_agop_projection) {
  const std::filesystem::path dir = test::fashion_mnist_dir();
  if (!test::require_fashion_mnist(dir)) return;  // a failure, not a skip
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  data::DataOptions data_options;  // fashion-mnist
  data_options.data_dir = dir.string();
  data_options.n = 300;
  data_options.n_test = 200;
  rfm::ModelConfig model;
  model.layers = 4;
  model.width = 256;
  model.block = 32;
  auto data = data::load_train_test(data_options, grid, model.block);
  BOOST_REQUIRE_EQUAL(data.train.dim(), 784);
  rfm::DeepRfm deep(model, grid);
  std::vector<rfm::LayerResult> layers;
  for (int l = 0; l < model.layers; ++l)
    layers.push_back(deep.run_layer(l, data.train.x, data.train.labels, data.train.classes,
                                    data.test.x, data.test.labels));
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& r = layers[l];
    BOOST_TEST_MESSAGE("layer " << l + 1 << " NC1 " << r.input.nc1 << " -> XS " << r.projected.nc1
                                << " -> ReLU " << r.mapped.nc1 << ", test " << r.test_accuracy);
    // The AGOP projection is what lowers NC1 within the layer...
    BOOST_CHECK_LT(r.projected.nc1, 0.8 * r.input.nc1);
    // ...and the ridgeless predictor interpolates its training data.
    // Backward-stable Cholesky: residual <= c n eps ||K|| ||A|| / ||Y||, which is O(n eps)
    // here although cond ~ 3e3 (measured <= 0.2 n eps).
    BOOST_TEST_MESSAGE("layer " << l + 1 << " residual " << r.residual << " cond "
                                << 1.0 / r.rcond);
    BOOST_CHECK_LT(r.residual, test::tol(data_options.n, 100));
    BOOST_CHECK_GT(r.test_accuracy, 0.6);
    if (l > 0) BOOST_CHECK_LT(r.projected.nc1, layers[l - 1].projected.nc1);
  }
  BOOST_CHECK_LT(layers.back().projected.nc1, 0.5 * layers.front().projected.nc1);
}
