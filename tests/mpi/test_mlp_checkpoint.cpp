// deeprfm-mlp checkpoints (docs/mlp.md, "Checkpoints and resume"): a run stopped after epoch k
// (as by SIGUSR1 at an epoch end) and resumed from its file on another communicator size
// reproduces the uninterrupted run (weights, every metric, every epoch record; relative
// 1000 n eps); contradicting resumes are refused naming the option; a non-finite loss is an agreed
// error. Goes through the executable's own command-line parser and run driver.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/mlp/checkpoint.hpp>
#include <deeprfm/mlp/run.hpp>
#include <deeprfm/mlp/trainer.hpp>

#include "mlp_cli.hpp"
#include "test_helpers.hpp"

using namespace deeprfm;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> run_args(const std::string& output) {
  return {"--data",         "synthetic", "--n",       "90",   "--n-test",        "30",
          "--dim",          "12",        "--classes", "3",    "--hidden-layers", "2",
          "--hidden-width", "16",        "--epochs",  "9",    "--measure-every", "4",
          "--batch-size",   "16",        "--lr",      "3e-3", "--agop-chunk",    "7",
          "--save-weights", "--quiet",   "-o",        output};
}

app::MlpParseResult parse(
    std::vector<std::string> args,
    const std::vector<std::pair<std::string, std::string>>* stored = nullptr) {
  args.insert(args.begin(), "deeprfm-mlp");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return app::parse_mlp_command_line(static_cast<int>(argv.size()), argv.data(), stored);
}

/// A new run as the executable does it; stops after `stop_epoch` (0 = never). Returns the
/// summary, or nothing when it stopped (every rank must see StopRequested). Collective.
std::optional<mlp::RunSummary> fresh_run(const std::string& path, const mpi::Communicator& comm,
                                         int stop_epoch) {
  mlp::RunSettings s = app::run_settings(parse(run_args(path)).options);
  s.simulated_stop_epoch = stop_epoch;
  try {
    return mlp::run_mlp(s, comm, nullptr);
  } catch (const StopRequested& stop) {
    BOOST_CHECK_EQUAL(stop.signal(), SIGUSR1);
    return std::nullopt;
  }
}

/// `deeprfm-mlp --resume path [extra]` on comm. Collective.
mlp::RunSummary resume_run(const std::string& path, const mpi::Communicator& comm,
                           std::vector<std::string> extra = {}) {
  mlp::CheckpointStore store(path, comm);
  store.open_existing();
  std::vector<std::string> args = {"--resume", path};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto parsed = parse(args, &store.options());
  BOOST_REQUIRE(parsed.run);
  return mlp::run_mlp(app::run_settings(parsed.options), comm, &store);
}

/// test::rel_diff, with two NaNs (a metric undefined in both runs) taken as equal.
double rel_diff_nan_equal(double a, double b) {
  return std::isnan(a) && std::isnan(b) ? 0.0 : test::rel_diff(a, b);
}

/// Largest relative difference of two row sets (the last `skip_tail` columns ignored: the
/// epoch table's seconds); 1 if the shapes differ.
double rows_diff(const std::vector<std::vector<double>>& a,
                 const std::vector<std::vector<double>>& b, std::size_t skip_tail = 0) {
  if (a.size() != b.size()) return 1.0;
  double w = 0;
  for (std::size_t r = 0; r < a.size(); ++r) {
    if (a[r].size() != b[r].size()) return 1.0;
    for (std::size_t c = 0; c + skip_tail < a[r].size(); ++c)
      w = std::max(w, rel_diff_nan_equal(a[r][c], b[r][c]));
  }
  return w;
}

double params_diff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return 1.0;
  double m = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale == 0 ? m : m / scale;
}

/// A resumed run on another rank count sums the gradients over the n = 90 rows (run_args) in
/// another order, and 9 epochs of Adam carry those differences on: 1000 n eps.
constexpr double kResumeTol = test::tol(90, 1000);

/// Differences of a resumed run against the reference: weights, metric rows, epoch rows.
void check_same(const mlp::RunSummary& got, const mlp::RunSummary& ref, const char* what) {
  const double dp = params_diff(got.parameters, ref.parameters);
  const double dm = rows_diff(got.metric_rows, ref.metric_rows);
  const double de = rows_diff(got.epoch_rows, ref.epoch_rows, 1);
  BOOST_TEST_MESSAGE(what << ": weights " << dp << ", metrics " << dm << ", epochs " << de);
  BOOST_CHECK(got.epochs_done == ref.epochs_done);
  BOOST_CHECK(dp < kResumeTol);
  BOOST_CHECK(dm < kResumeTol);
  BOOST_CHECK(de < kResumeTol);
}

int count_state_files(const fs::path& dir, const std::string& stem) {
  int count = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(stem + ".epoch", 0) == 0) ++count;
  }
  return count;
}

}  // namespace

BOOST_AUTO_TEST_CASE(resume_after_a_stop_reproduces_the_uninterrupted_run) {
  auto world = mpi::Communicator::world();
  const fs::path dir = test::shared_temp_dir("mlp-ckpt");
  const std::string ref_path = (dir / "ref.h5").string();
  const auto reference = fresh_run(ref_path, world, 0);
  DEEPRFM_REQUIRE_ALL(reference.has_value());
  DEEPRFM_CHECK_ALL(reference->epochs_done == 9 && reference->metric_rows.size() == 4 * 2);
  // Rank 0 alone (a singleton communicator); the other ranks wait.
  const mpi::Communicator solo = world.split(world.rank() == 0 ? 0 : 1, world.rank());
  const bool me = world.rank() == 0;

  // 1. Stopped after epoch 5 (between measurements 4 and 8) on all ranks, resumed on 1.
  const std::string a = (dir / "a.h5").string();
  DEEPRFM_CHECK_ALL(!fresh_run(a, world, 5).has_value());
  {
    h5::File f(a, h5::File::Mode::read_only, world);
    DEEPRFM_CHECK_ALL(f.read_attribute_int64("/checkpoint", "completed_epochs") == 5);
    DEEPRFM_CHECK_ALL(f.read_attribute_int64("/checkpoint", "complete") == 0);
    DEEPRFM_CHECK_ALL(f.read_attribute_int64("/", "completed") == 0);
    DEEPRFM_CHECK_ALL(f.dims("/epochs/table")[0] == 5);
    DEEPRFM_CHECK_ALL(f.exists("/measurements/epoch_0004") &&
                      !f.exists("/measurements/epoch_0008") && !f.exists("/weights"));
    DEEPRFM_CHECK_ALL(f.read_attribute_string("/checkpoint", "state_file") ==
                      "a.h5.epoch0005.state.h5");
  }
  world.barrier();
  DEEPRFM_CHECK_ALL(count_state_files(dir, "a.h5") == 1);
  // A torn commit's leftovers are cleaned up by the resume.
  if (me) std::filesystem::copy_file(a, a + ".tmp");
  world.barrier();
  bool ok = true;
  if (me) {
    const mlp::RunSummary resumed = resume_run(a, solo);
    check_same(resumed, *reference, "stopped at 5 on P ranks, resumed on 1");
    h5::File f(a, h5::File::Mode::read_only, solo);
    ok = f.read_attribute_int64("/checkpoint", "complete") == 1 &&
         f.read_attribute_int64("/", "completed") == 1 && f.exists("/weights/readout") &&
         f.exists("/measurements/epoch_0009/layer_02/agop") &&
         f.read_all_double("/metrics/nfa_corr").size() == 8 && !fs::exists(a + ".tmp") &&
         count_state_files(dir, "a.h5") == 1;
  }
  DEEPRFM_CHECK_ALL(ok);

  // 2. Stopped after epoch 4 (a measurement epoch) on 1 rank, resumed on all ranks.
  const std::string b = (dir / "b.h5").string();
  if (me) BOOST_CHECK(!fresh_run(b, solo, 4).has_value());
  world.barrier();
  const mlp::RunSummary resumed = resume_run(b, world, {"--epochs", "9", "--quiet"});
  check_same(resumed, *reference, "stopped at 4 on 1 rank, resumed on P");

  // 3. Stopped, resumed with more epochs than planned, then "nothing to do" on a finished run.
  const std::string c = (dir / "c.h5").string();
  DEEPRFM_CHECK_ALL(!fresh_run(c, world, 2).has_value());
  const mlp::RunSummary longer = resume_run(c, world, {"--epochs", "12"});
  DEEPRFM_CHECK_ALL(longer.epochs_done == 12 && longer.epoch_rows.size() == 12);
  // Epochs 1..8 (before the original last epoch changed the schedule) match the reference.
  const std::vector<std::vector<double>> head(longer.epoch_rows.begin(),
                                              longer.epoch_rows.begin() + 8);
  const std::vector<std::vector<double>> ref_head(reference->epoch_rows.begin(),
                                                  reference->epoch_rows.begin() + 8);
  DEEPRFM_CHECK_ALL(rows_diff(head, ref_head, 1) < kResumeTol);
  const mlp::RunSummary again = resume_run(c, world, {"--epochs", "12"});
  DEEPRFM_CHECK_ALL(again.epochs_done == 12 &&
                    params_diff(again.parameters, longer.parameters) == 0);

  world.barrier();
  if (me) fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(contradicting_resumes_are_refused) {
  auto world = mpi::Communicator::world();
  const fs::path dir = test::shared_temp_dir("mlp-refuse");
  const std::string a = (dir / "a.h5").string();
  DEEPRFM_REQUIRE_ALL(!fresh_run(a, world, 5).has_value());
  mlp::CheckpointStore store(a, world);
  store.open_existing();
  auto refusal = [&](std::vector<std::string> extra) -> std::string {
    std::vector<std::string> args = {"--resume", a};
    args.insert(args.end(), extra.begin(), extra.end());
    try {
      parse(args, &store.options());
    } catch (const Error& e) {
      return e.kind() == ErrorKind::input ? e.what() : "wrong kind";
    }
    return "";
  };
  for (const auto& [option, value] :
       std::vector<std::pair<std::string, std::string>>{{"--hidden-width", "32"},
                                                        {"--lr", "0.01"},
                                                        {"--seed", "2"},
                                                        {"--optimizer", "sgd"},
                                                        {"--n", "60"},
                                                        {"--measure-every", "3"}}) {
    const std::string message = refusal({option, value});
    BOOST_TEST_MESSAGE(message);
    DEEPRFM_CHECK_ALL(message.find("--resume: " + option + " ") != std::string::npos &&
                      message.find("contradicts the stored run") != std::string::npos);
  }
  // The same values, and the options that may change, are accepted.
  DEEPRFM_CHECK_ALL(
      refusal({"--hidden-width", "16", "--lr", "3e-3", "--epochs", "20", "--blas-threads", "1",
               "--checkpoint-every", "2", "--save-agops", "all"})
          .empty());
  DEEPRFM_CHECK_ALL(refusal({"--output", (dir / "other.h5").string()}).find("--output") !=
                    std::string::npos);
  // Fewer epochs than already done: refused by the driver on every rank.
  std::string fewer;
  try {
    resume_run(a, world, {"--epochs", "3"});
  } catch (const Error& e) {
    fewer = e.agreed() && e.kind() == ErrorKind::input ? e.what() : "wrong kind";
  }
  DEEPRFM_CHECK_ALL(fewer.find("3 epochs asked for, below the 5 epochs") != std::string::npos);
  // A file that is not a deeprfm-mlp checkpoint.
  const std::string other = (dir / "other.h5").string();
  {
    h5::File f(other, h5::File::Mode::create_exclusive, world);
    f.write_attribute("/", "program", std::string("deeprfm"));
    f.ensure_group("/config");
  }
  std::string not_mlp;
  try {
    mlp::CheckpointStore s(other, world);
    s.open_existing();
  } catch (const Error& e) {
    not_mlp = e.agreed() ? e.what() : "not agreed";
  }
  DEEPRFM_CHECK_ALL(not_mlp.find("written by 'deeprfm', not by deeprfm-mlp") != std::string::npos);
  world.barrier();
  if (world.rank() == 0) fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_non_finite_loss_is_an_agreed_error) {
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  data::DataOptions o;
  o.kind = "synthetic";
  o.n = 60;
  o.n_test = 0;
  o.dim = 8;
  o.classes = 3;
  auto data = data::load_train_test(o, grid, 8);
  mlp::MlpConfig config;
  config.hidden_layers = 2;
  config.hidden_width = 8;
  config.batch_size = 8;
  mlp::Trainer trainer(config, data);
  // One non-finite readout weight makes every output, and the loss, NaN.
  std::vector<double> params = trainer.network().parameters();
  params.back() = std::numeric_limits<double>::quiet_NaN();
  trainer.set_parameters(params);
  bool agreed = false;
  std::string message;
  try {
    trainer.train_epoch(1, false);
  } catch (const Error& e) {
    agreed = e.agreed() && e.kind() == ErrorKind::numerical;
    message = e.what();
  }
  BOOST_TEST_MESSAGE(message);
  DEEPRFM_CHECK_ALL(agreed);
  DEEPRFM_CHECK_ALL(message.find("lower the learning rate") != std::string::npos);
}
