// Data-parallel MLP training: the same weights, losses and measurements (relative 1e-10) at
// every rank count as on a single rank, an end-to-end run on Fashion-MNIST that lowers the
// training loss, and the HDF5 results file.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/mlp/results_writer.hpp>
#include <deeprfm/mlp/trainer.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

namespace {

struct ShortRun {
  std::vector<double> parameters;
  std::vector<double> running_losses;
  std::vector<mlp::Measurement> measurements;
};

ShortRun short_run(const mpi::Communicator& comm, const data::DataOptions& options,
                   const mlp::MlpConfig& config, int epochs) {
  la::ProcessGrid grid(comm, la::most_square_shape(comm.size()));
  auto data = data::load_train_test(options, grid, 8);
  mlp::Trainer trainer(config, data);
  ShortRun out;
  out.measurements.push_back(trainer.measure(0));
  for (int e = 1; e <= epochs; ++e)
    out.running_losses.push_back(trainer.train_epoch(e, false).running_loss);
  out.measurements.push_back(trainer.measure(epochs));
  out.parameters = trainer.network().parameters();
  return out;
}

double worst_measurement_diff(const mlp::Measurement& a, const mlp::Measurement& b) {
  double w = std::max({test::rel_diff(a.eval.train_loss, b.eval.train_loss),
                       test::rel_diff(a.eval.test_loss, b.eval.test_loss),
                       test::rel_diff(a.eval.train_accuracy, b.eval.train_accuracy)});
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    const auto &x = a.layers[l], &y = b.layers[l];
    for (auto [p, q] : {std::pair{&x.collapse.input, &y.collapse.input},
                        std::pair{&x.collapse.projected, &y.collapse.projected},
                        std::pair{&x.collapse.mapped, &y.collapse.mapped}})
      w = std::max({w, test::rel_diff(p->nc1, q->nc1), test::rel_diff(p->nc1_pinv, q->nc1_pinv),
                    test::rel_diff(p->nc2_etf, q->nc2_etf),
                    test::rel_diff(p->nc2_orth, q->nc2_orth)});
    w = std::max({w, test::rel_diff(x.nfa_corr, y.nfa_corr),
                  test::rel_diff(x.nfa_corr_sqrt, y.nfa_corr_sqrt),
                  test::max_rel_diff(x.agop, y.agop)});
  }
  return w;
}

data::DataOptions small_synthetic() {
  data::DataOptions o;
  o.kind = "synthetic";
  o.n = 90;  // 3 classes x 30; not a multiple of the batch size or of 4 ranks
  o.n_test = 30;
  o.dim = 12;
  o.classes = 3;
  o.separation = 0.8;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(short_training_is_independent_of_the_rank_count) {
  auto world = mpi::Communicator::world();
  const auto options = small_synthetic();
  for (const auto optimizer : {mlp::OptimizerKind::adam, mlp::OptimizerKind::sgd}) {
    mlp::MlpConfig config;
    config.hidden_layers = 3;
    config.hidden_width = 16;
    config.batch_size = 16;
    config.optimizer = optimizer;
    config.lr = optimizer == mlp::OptimizerKind::adam ? 3e-3 : 2e-2;
    config.agop_chunk_rows = 7;
    const int epochs = 4;
    const ShortRun distributed = short_run(world, options, config, epochs);
    // The reference: the same run on a singleton communicator (every rank computes it).
    const mpi::Communicator self = world.split(world.rank(), 0);
    const ShortRun reference = short_run(self, options, config, epochs);

    const double dp = test::max_rel_diff(distributed.parameters, reference.parameters);
    const double dl = test::max_rel_diff(distributed.running_losses, reference.running_losses);
    double dm = 0;
    for (std::size_t i = 0; i < reference.measurements.size(); ++i)
      dm = std::max(dm,
                    worst_measurement_diff(distributed.measurements[i], reference.measurements[i]));
    BOOST_TEST_MESSAGE(mlp::to_string(optimizer)
                       << " at " << world.size() << " ranks vs 1: weights " << dp << ", losses "
                       << dl << ", measurements " << dm);
    // The gradients' sums over the n rows run in another order at P ranks; 4 epochs of Adam
    // steps carry those differences on (Adam divides by sqrt(v): they do not shrink).
    const double tol = test::tol(options.n, 1000);
    DEEPRFM_CHECK_ALL(dp < tol);
    DEEPRFM_CHECK_ALL(dl < tol);
    DEEPRFM_CHECK_ALL(dm < tol);
    // Training did something, and the weights are bitwise the same on every rank.
    DEEPRFM_CHECK_ALL(reference.running_losses.back() < reference.running_losses.front());
    std::vector<double> rank0 = distributed.parameters;
    world.broadcast(rank0.data(), rank0.size(), 0);
    DEEPRFM_CHECK_ALL(rank0 == distributed.parameters);
  }
}

BOOST_AUTO_TEST_CASE(fashion_mnist_short_training_lowers_the_loss) {
  const std::filesystem::path dir = test::fashion_mnist_dir();
  if (!test::require_fashion_mnist(dir)) return;  // a failure, not a skip
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  data::DataOptions options;  // fashion-mnist
  options.data_dir = dir.string();
  options.n = 300;
  options.n_test = 200;
  auto data = data::load_train_test(options, grid, 32);
  BOOST_REQUIRE_EQUAL(data.train.dim(), 784);
  mlp::MlpConfig config;
  config.hidden_layers = 5;
  config.hidden_width = 64;
  config.batch_size = 32;
  config.lr = 1e-3;
  mlp::Trainer trainer(config, data);
  const mlp::Evaluation before = trainer.evaluate();
  mlp::EpochRecord last;
  for (int e = 1; e <= 8; ++e) last = trainer.train_epoch(e, e == 8);
  const mlp::Measurement m = trainer.measure(8);
  BOOST_TEST_MESSAGE("Fashion-MNIST: train loss "
                     << before.train_loss << " -> " << last.eval.train_loss << ", accuracy train "
                     << last.eval.train_accuracy << " test " << last.eval.test_accuracy);
  for (const auto& l : m.layers)
    BOOST_TEST_MESSAGE("  layer " << l.layer + 1 << " NC1 " << l.collapse.input.nc1 << " > "
                                  << l.collapse.projected.nc1 << " > " << l.collapse.mapped.nc1
                                  << ", NFA corr " << l.nfa_corr << " sqrt " << l.nfa_corr_sqrt);
  DEEPRFM_CHECK_ALL(last.eval.train_loss < 0.5 * before.train_loss);
  DEEPRFM_CHECK_ALL(last.eval.train_accuracy > 0.8);
  DEEPRFM_CHECK_ALL(last.eval.test_accuracy > 0.6);
  // The same loss, a sum over n rows, evaluated twice (measure and the epoch's evaluation).
  BOOST_TEST_MESSAGE(
      "train loss measure vs epoch: " << test::rel_diff(m.eval.train_loss, last.eval.train_loss));
  DEEPRFM_CHECK_ALL(test::rel_diff(m.eval.train_loss, last.eval.train_loss) <
                    test::tol(options.n, 2));
  // Training lowers within-class variability at the last hidden layer's output.
  DEEPRFM_CHECK_ALL(m.layers.back().collapse.mapped.nc1 < m.layers.front().collapse.input.nc1);
  for (const auto& l : m.layers) DEEPRFM_CHECK_ALL(std::isfinite(l.nfa_corr) && l.nfa_corr > 0);
}

BOOST_AUTO_TEST_CASE(results_file_has_the_documented_layout) {
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  auto data = data::load_train_test(small_synthetic(), grid, 8);
  mlp::MlpConfig config;
  config.hidden_layers = 2;
  config.hidden_width = 8;
  config.batch_size = 32;
  mlp::Trainer trainer(config, data);
  const auto dir = test::shared_temp_dir("mlp-io");
  const std::string path = (dir / "run.h5").string();
  std::vector<mlp::Measurement> measurements;
  std::vector<mlp::EpochRecord> epochs;
  {
    mlp::ResultsWriter writer(path, false, world);
    writer.write_run_info("deeprfm-mlp --test", {{"epochs", "2"}}, world.size(), "OpenBLAS", 1,
                          static_cast<std::int64_t>(trainer.network().parameter_count()));
    writer.write_data(data);
    measurements.push_back(trainer.measure(0));
    writer.write_measurement(measurements.back(), false);
    for (int e = 1; e <= 2; ++e) epochs.push_back(trainer.train_epoch(e, true));
    measurements.push_back(trainer.measure(2));
    writer.write_measurement(measurements.back(), true);
    writer.write_epochs(epochs);
    writer.write_metrics(measurements);
    writer.write_weights(trainer.network());
    writer.finish(1.5);
  }
  // An existing file is refused without overwrite, on every rank.
  bool refused = false;
  try {
    mlp::ResultsWriter again(path, false, world);
  } catch (const Error& e) {
    refused = e.kind() == ErrorKind::input;
  }
  DEEPRFM_CHECK_ALL(refused);

  h5::File f(path, h5::File::Mode::read_only, world);
  DEEPRFM_CHECK_ALL(f.read_attribute_string("/", "program") == "deeprfm-mlp");
  DEEPRFM_CHECK_ALL(f.read_attribute_int64("/", "completed") == 1);
  DEEPRFM_CHECK_ALL(f.read_attribute_string("/config", "epochs") == "2");
  const std::string layer = "/measurements/epoch_0002/layer_02";
  DEEPRFM_REQUIRE_ALL(f.exists(layer));
  const auto& last = measurements.back().layers[1];
  DEEPRFM_CHECK_ALL(f.read_attribute_double(layer, "nc1_projected") == last.collapse.projected.nc1);
  DEEPRFM_CHECK_ALL(f.read_attribute_double(layer, "nfa_corr_sqrt") == last.nfa_corr_sqrt);
  DEEPRFM_CHECK_ALL(f.exists(layer + "/agop") &&
                    !f.exists("/measurements/epoch_0000/layer_01/agop"));
  DEEPRFM_CHECK_ALL(f.dims(layer + "/singular_values") == std::vector<hsize_t>{8});
  const auto columns = f.read_attribute_strings("/metrics/table", "columns");
  DEEPRFM_CHECK_ALL(columns == mlp::metric_columns());
  DEEPRFM_CHECK_ALL(
      (f.dims("/metrics/table") == std::vector<hsize_t>{4, hsize_t(mlp::metric_columns().size())}));
  const auto nfa = f.read_all_double("/metrics/nfa_corr");
  DEEPRFM_CHECK_ALL(nfa.size() == 4 && nfa[3] == last.nfa_corr);
  DEEPRFM_CHECK_ALL(
      (f.dims("/epochs/table") == std::vector<hsize_t>{2, hsize_t(mlp::epoch_columns().size())}));
  const auto readout = f.read_all_double("/weights/readout");
  const auto& net = trainer.network();
  DEEPRFM_CHECK_ALL(readout == std::vector<double>(net.weight(2), net.weight(2) + 3 * 8));
  DEEPRFM_CHECK_ALL(f.dims("/weights/layer_01") == (std::vector<hsize_t>{8, 12}));
  world.barrier();
  if (world.rank() == 0) std::filesystem::remove_all(dir);
}
