#include "mlp_cli.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include <boost/program_options.hpp>

#include "option_text.hpp"

#include <deeprfm/base/error.hpp>
#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/version.hpp>

namespace po = boost::program_options;

namespace deeprfm::app {

namespace {

/// Options that steer one invocation only: never compared on --resume.
const std::set<std::string>& invocation_options() {
  static const std::set<std::string> names = {
      "help",      "version",  "config",      "quiet",      "resume",      "output",
      "overwrite", "deadline", "stop-margin", "stop-grace", "peer-timeout"};
  return names;
}

/// The options of deeprfm-mlp, bound to the variables parsing fills. Local.
po::options_description describe_mlp_options(MlpRunOptions& o, std::string& optimizer,
                                             std::string& config_file, std::string& deadline,
                                             std::int64_t& n, std::int64_t& n_test,
                                             std::string& selection, std::string& test_selection,
                                             std::uint64_t& seed) {
  mlp::MlpConfig& m = o.model;
  po::options_description general("General");
  general.add_options()("help,h", "print this help and exit")("version",
                                                              "print the version and exit")(
      "config", po::value<std::string>(&config_file),
      "read options from this file (lines 'name = value', same names as below; the command "
      "line wins)")("quiet", po::bool_switch(&o.quiet), "print only errors and the final table")(
      "resume", po::value<std::string>(&o.resume)->default_value(""),
      "continue the stopped run in this results file (its stored options are the base; only "
      "--epochs, --block-size, --blas-threads, --agop-chunk, --save-weights, --save-agops, "
      "--checkpoint-every may change); any rank count")(
      "deadline", po::value<std::string>(&deadline)->default_value(""),
      "Unix time (s) at which the job is killed; default: $SLURM_JOB_END_TIME if set, else "
      "none; none or 0 = no deadline (docs/checkpointing.md)")(
      "stop-margin", po::value<double>(&o.limits.stop_margin)->default_value(30.0),
      "seconds before the deadline by which the run must have exited")(
      "stop-grace", po::value<double>(&o.limits.stop_grace)->default_value(60.0),
      "seconds to wait after a stop signal for the next epoch end before the epoch in flight "
      "is abandoned")(
      "peer-timeout", po::value<double>(&o.limits.peer_timeout)->default_value(300.0),
      "seconds without a heartbeat after which a rank counts as lost (stopped, hung or on a lost "
      "node) and every other rank exits 75; 0 = no peer watch");

  po::options_description data("Data (the same as deeprfm's)");
  data.add_options()("data", po::value<std::string>(&o.data.kind)->default_value("fashion-mnist"),
                     "fashion-mnist | mnist | cifar10 | hdf5 | npy | synthetic")(
      "data-dir", po::value<std::string>(&o.data.data_dir)->default_value(""),
      "folder of the IDX (MNIST, Fashion-MNIST) or CIFAR-10 binary files; fashion-mnist "
      "defaults to /usr/share/datasets/fashion-mnist")(
      "train", po::value<std::string>(&o.data.train_file)->default_value(""),
      "hdf5/npy: training file (npy: the X array)")(
      "test", po::value<std::string>(&o.data.test_file)->default_value(""),
      "hdf5/npy: test file (npy: the X array); none if empty")(
      "train-labels", po::value<std::string>(&o.data.train_labels_file)->default_value(""),
      "npy: training labels file (default: derived from --train, see docs/cli.md)")(
      "test-labels", po::value<std::string>(&o.data.test_labels_file)->default_value(""),
      "npy: test labels file (default derived like --train-labels)")(
      "x-name", po::value<std::string>(&o.data.x_name)->default_value("X"),
      "hdf5: dataset of samples x features; npy: the name suffix (_X) replaced when deriving a "
      "labels file name")(
      "y-name", po::value<std::string>(&o.data.y_name)->default_value("y"),
      "hdf5: dataset of labels; npy: the suffix (_y) a derived labels file name gets")(
      "test-x-name", po::value<std::string>(&o.data.test_x_name)->default_value(""),
      "hdf5: dataset of test samples (default: --x-name)")(
      "test-y-name", po::value<std::string>(&o.data.test_y_name)->default_value(""),
      "hdf5: dataset of test labels (default: --y-name)")(
      "n", po::value<std::int64_t>(&n)->default_value(2000),
      "training points, chosen by --selection; 0 = all")(
      "n-test", po::value<std::int64_t>(&n_test)->default_value(0),
      "test points, chosen by --test-selection; 0 = all; -1 = no test set")(
      "selection", po::value<std::string>(&selection)->default_value("balanced"),
      "balanced (the first n/C of each class in file order) | first (the first n in file "
      "order, any classes, as the authors' code)")(
      "test-selection", po::value<std::string>(&test_selection)->default_value("first"),
      "first (the first n-test test points in file order; a class may be missing) | balanced "
      "(like --selection balanced: every class needs n-test/C points)")(
      "classes", po::value<int>(&o.data.classes)->default_value(0),
      "number of classes; 0 = the data set's")(
      "dim", po::value<int>(&o.data.dim)->default_value(64), "synthetic: input dimension")(
      "separation", po::value<double>(&o.data.separation)->default_value(1.0),
      "synthetic: scale of the class means (noise has unit variance)")(
      "test-own-statistics", po::bool_switch(&o.data.test_own_statistics),
      "standardise the test set with its own mean/std (mimics the authors' code)");

  po::options_description model("Network");
  model.add_options()("hidden-layers", po::value<int>(&m.hidden_layers)->default_value(5),
                      "number of hidden ReLU layers L (no biases)")(
      "hidden-width", po::value<int>(&m.hidden_width)->default_value(512), "hidden width h")(
      "init-gain", po::value<double>(&m.init_gain)->default_value(1.0),
      "gain of the Xavier-uniform hidden weights (the paper's initialisation scale); the "
      "readout is U[-1/sqrt(h), 1/sqrt(h)]")(
      "seed", po::value<std::uint64_t>(&seed)->default_value(1),
      "seed of the weights, of the minibatch order and of synthetic data");

  po::options_description training("Training");
  training.add_options()("epochs", po::value<int>(&m.epochs)->default_value(250),
                         "training epochs")("batch-size",
                                            po::value<int>(&m.batch_size)->default_value(128),
                                            "global minibatch size (all ranks together)")(
      "optimizer", po::value<std::string>(&optimizer)->default_value("adam"),
      "adam (no weight decay) | sgd (with momentum)")(
      "lr", po::value<double>(&m.lr)->default_value(1e-4), "learning rate")(
      "beta1", po::value<double>(&m.beta1)->default_value(0.9), "Adam beta1")(
      "beta2", po::value<double>(&m.beta2)->default_value(0.999), "Adam beta2")(
      "adam-eps", po::value<double>(&m.adam_eps)->default_value(1e-8), "Adam epsilon")(
      "momentum", po::value<double>(&m.momentum)->default_value(0.9), "SGD momentum");

  po::options_description measure("Measurements");
  measure.add_options()(
      "measure-every", po::value<int>(&m.measure_every)->default_value(10),
      "epochs between NC / AGOP / NFA measurements (also at epoch 0 and the last epoch; "
      "0 = those two only)")(
      "eval-every", po::value<int>(&m.eval_every)->default_value(1),
      "epochs between full train/test loss and accuracy evaluations (0 = only at "
      "measurements)")(
      "agop-chunk", po::value<int>(&m.agop_chunk_rows)->default_value(1024),
      "rows per batched backward pass when measuring (memory ~ rows x width x (L + 2) doubles)");

  po::options_description parallel("Parallel");
  parallel.add_options()("block-size",
                         po::value<int>(&o.block)->default_value(la::kDefaultBlockSize),
                         "block size of the block-cyclic grid the data is loaded on")(
      "blas-threads", po::value<int>(&o.blas_threads)->default_value(0),
      "BLAS threads per rank (0 = the library default / OPENBLAS_NUM_THREADS)");

  po::options_description output("Output");
  output.add_options()("output,o",
                       po::value<std::string>(&o.output)->default_value("deeprfm-mlp-results.h5"),
                       "HDF5 results file (parallel HDF5)")(
      "overwrite", po::bool_switch(&o.overwrite), "replace an existing output file")(
      "save-weights", po::bool_switch(&o.save_weights), "write the final weights to /weights")(
      "save-agops", po::value<std::string>(&o.save_agops)->default_value("last"),
      "none | last | all: per-layer AGOP matrices written with the measurements")(
      "checkpoint-every", po::value<int>(&o.checkpoint_every)->default_value(0),
      "also commit a checkpoint every k epochs (0 = only after each measurement and on a "
      "stop signal)");

  po::options_description all(
      "deeprfm-mlp: the paper's MLP experiment (layer-wise NC1 decomposition and the Neural "
      "Feature Ansatz), data-parallel over MPI\n\nUsage: mpirun -n P deeprfm-mlp [options]\n\n"
      "Options");
  all.add(general).add(data).add(model).add(training).add(measure).add(parallel).add(output);
  return all;
}

}  // namespace

std::string mlp_flag_for_subject(const std::string& subject) {
  // Only the option names are looked up; the variables they are bound to are never written.
  struct Targets {
    MlpRunOptions o;
    std::string optimizer, config_file, deadline, selection, test_selection;
    std::int64_t n = 0, n_test = 0;
    std::uint64_t seed = 0;
  };
  static const auto lookup = [] {
    Targets t;
    return flag_lookup(describe_mlp_options(t.o, t.optimizer, t.config_file, t.deadline, t.n,
                                            t.n_test, t.selection, t.test_selection, t.seed));
  }();
  return lookup(subject);
}

mlp::RunSettings run_settings(const MlpRunOptions& opt) {
  mlp::RunSettings s;
  s.data = opt.data;
  s.model = opt.model;
  s.block = opt.block;
  s.output = opt.output;
  s.overwrite = opt.overwrite;
  s.save_weights = opt.save_weights;
  s.save_agops = opt.save_agops;
  s.checkpoint_every = opt.checkpoint_every;
  s.quiet = opt.quiet;
  s.command_line = opt.command_line;
  s.options = opt.effective;
  return s;
}

const std::vector<std::string>& mlp_options_changeable_on_resume() {
  static const std::vector<std::string> names = {"epochs",          "block-size",   "blas-threads",
                                                 "agop-chunk",      "save-weights", "save-agops",
                                                 "checkpoint-every"};
  return names;
}

MlpParseResult parse_mlp_command_line(
    int argc, char** argv, const std::vector<std::pair<std::string, std::string>>* stored) {
  MlpParseResult result;
  MlpRunOptions& o = result.options;
  mlp::MlpConfig& m = o.model;
  std::string optimizer = "adam", config_file, deadline;
  std::string selection = data::to_string(o.data.selection),
              test_selection = data::to_string(o.data.test_selection);
  std::int64_t n = o.data.n, n_test = o.data.n_test;
  std::uint64_t seed = 1;

  po::options_description all = describe_mlp_options(o, optimizer, config_file, deadline, n, n_test,
                                                     selection, test_selection, seed);

  po::variables_map cmd, vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), cmd);
    if (cmd.count("config")) {
      // --resume says what this invocation does with an existing file: command line only.
      po::store(parse_config_checked(cmd["config"].as<std::string>(), all,
                                     {"help", "version", "config", "resume"}),
                cmd);
    }
    const std::string resume = cmd.count("resume") ? cmd["resume"].as<std::string>() : "";
    if (!resume.empty() && !cmd.count("help") && !cmd.count("version")) {
      DEEPRFM_CHECK(stored != nullptr, input,
                    "--resume must be given on the command line (not in a --config file)");
      // The stored run is the base; the command line may change only some options.
      std::map<std::string, std::string> base;
      for (const auto& [name, value] : with_implied_options(*stored))
        if (!invocation_options().count(name)) base[name] = value;
      const auto& changeable = mlp_options_changeable_on_resume();
      for (const auto& [name, value] : cmd) {
        if (value.defaulted() || invocation_options().count(name)) continue;
        const std::string given = option_to_text(value.value());
        const auto it = base.find(name);
        if (std::find(changeable.begin(), changeable.end(), name) != changeable.end()) {
          base[name] = given;
        } else if (it == base.end() || it->second != given) {
          DEEPRFM_THROW(input, "--resume: --" << name << " " << given
                                              << " contradicts the stored run ("
                                              << (it == base.end() ? "not set" : it->second)
                                              << "); only --epochs, --block-size, "
                                                 "--blas-threads, --agop-chunk, --save-weights, "
                                                 "--save-agops and --checkpoint-every may change");
        }
      }
      if (cmd.count("output") && !cmd["output"].defaulted())
        DEEPRFM_CHECK(cmd["output"].as<std::string>() == resume, input,
                      "--output " << cmd["output"].as<std::string>() << " with --resume " << resume
                                  << ": a resumed run continues in its own file");
      base["output"] = resume;
      base["resume"] = resume;
      for (const char* name : {"quiet", "deadline", "stop-margin", "stop-grace", "peer-timeout"})
        if (cmd.count(name) && !cmd[name].defaulted())
          base[name] = option_to_text(cmd[name].value());
      std::ostringstream text;
      for (const auto& [name, value] : base) text << name << " = " << value << "\n";
      std::istringstream in(text.str());
      po::store(po::parse_config_file(in, all), vm);
    } else {
      vm = std::move(cmd);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    DEEPRFM_THROW(input, e.what() << " (see deeprfm-mlp --help)");
  }

  if (vm.count("help")) {
    std::ostringstream os;
    os << all << "\nDocumentation: docs/mlp.md; output layout: docs/hdf5_layout.md\n";
    result.text = os.str();
    return result;
  }
  if (vm.count("version")) {
    result.text = std::string("deeprfm-mlp ") + kVersion + " (" + kGitRevision + ")\n";
    return result;
  }

  o.data.n = n;
  o.data.n_test = n_test;
  o.data.selection = data::parse_selection(selection, "selection");
  o.data.test_selection = data::parse_selection(test_selection, "test-selection");
  o.data.seed = seed;
  m.seed = seed;
  m.optimizer = mlp::parse_optimizer(optimizer);
  m.validate();
  DEEPRFM_CHECK(n >= 0, input, "--n must be >= 0 (0 = all), got " << n);
  DEEPRFM_CHECK(n_test >= -1, input, "--n-test must be >= -1, got " << n_test);
  DEEPRFM_CHECK(o.data.classes >= 0 && o.data.classes != 1, input,
                "--classes must be 0 (from the data) or at least 2, got " << o.data.classes);
  DEEPRFM_CHECK(o.block >= 1, input, "--block-size must be >= 1, got " << o.block);
  DEEPRFM_CHECK(o.save_agops == "none" || o.save_agops == "last" || o.save_agops == "all", input,
                "--save-agops '" << o.save_agops << "' is not one of: none, last, all");
  DEEPRFM_CHECK(!o.output.empty(), input, "--output must name a file");
  DEEPRFM_CHECK(o.blas_threads >= 0, input, "--blas-threads must be >= 0");
  DEEPRFM_CHECK(
      o.checkpoint_every >= 0, input,
      "--checkpoint-every must be >= 0 (0 = at measurements only), got " << o.checkpoint_every);

  // Every numeric option within its range before anything is allocated from it (the checks
  // above give the specific messages of the common mistakes).
  check_option_ranges(
      vm, {{"n", 0, kMaxDimension, "an integer in [0, 2147483647] (0 = all)"},
           {"n-test", -1, kMaxDimension, "an integer in [-1, 2147483647] (0 = all, -1 = none)"},
           {"classes", 0, kMaxDimension, "0 (from the data) or an integer >= 2"},
           {"dim", 1, kMaxDimension, "an integer in [1, 2147483647]"},
           {"separation", 0, kMaxFinite, "a finite number >= 0"},
           {"seed", 0, kMaxSeed, "an integer in [0, 2^63 - 1] (a negative seed wraps around)"},
           {"beta1", 0, kMaxFinite, "a number in [0, 1)"},
           {"beta2", 0, kMaxFinite, "a number in [0, 1)"},
           {"momentum", 0, kMaxFinite, "a number in [0, 1)"},
           {"lr", 0, kMaxFinite, "a finite number > 0"},
           {"init-gain", 0, kMaxFinite, "a finite number > 0"},
           {"adam-eps", 0, kMaxFinite, "a finite number > 0"},
           {"blas-threads", 0, 4096, "an integer in [0, 4096] (0 = the library default)"},
           {"stop-margin", 0, kMaxFinite, "a finite number of seconds >= 0"},
           {"stop-grace", 0, kMaxFinite, "a finite number of seconds >= 0"}});
  std::ostringstream cmdline;
  for (int i = 0; i < argc; ++i) cmdline << (i ? " " : "") << argv[i];
  o.command_line = cmdline.str();
  o.limits.deadline = parse_deadline(deadline);
  DEEPRFM_CHECK(std::isfinite(o.limits.stop_margin) && o.limits.stop_margin >= 0, input,
                "--stop-margin must be a number of seconds >= 0, got " << o.limits.stop_margin);
  DEEPRFM_CHECK(std::isfinite(o.limits.stop_grace) && o.limits.stop_grace >= 0, input,
                "--stop-grace must be a number of seconds >= 0, got " << o.limits.stop_grace);
  DEEPRFM_CHECK(
      std::isfinite(o.limits.peer_timeout) && o.limits.peer_timeout >= 0, input,
      "--peer-timeout must be a number of seconds >= 0 (0 = off), got " << o.limits.peer_timeout);
  for (const auto& [name, value] : vm) {
    if (name == "help" || name == "version" || name == "resume" || name == "deadline" ||
        name == "stop-margin" || name == "stop-grace" || name == "peer-timeout")
      continue;
    o.effective.emplace_back(name, option_to_text(value.value()));
  }
  result.run = true;
  return result;
}

}  // namespace deeprfm::app
