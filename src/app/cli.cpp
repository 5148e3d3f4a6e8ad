#include "cli.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <iomanip>
#include <set>
#include <sstream>

#include <boost/program_options.hpp>

#include "option_text.hpp"

#include <deeprfm/base/error.hpp>
#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/version.hpp>

namespace po = boost::program_options;

namespace deeprfm::app {

namespace {

/// Options that steer one invocation only: never stored, never compared on --resume.
const std::set<std::string>& invocation_options() {
  static const std::set<std::string> names = {
      "help",     "version",   "config",   "quiet",       "resume",     "output",      "overwrite",
      "continue", "mem-limit", "deadline", "stop-margin", "stop-grace", "peer-timeout"};
  return names;
}

po::options_description describe_options() {
  po::options_description general("General");
  general.add_options()("help,h", "print this help and exit")("version",
                                                              "print the version and exit")(
      "config", po::value<std::string>(),
      "read options from this file (lines 'name = value', same names as below; the command "
      "line wins)")("quiet", po::bool_switch(), "print only errors and the final table");

  po::options_description data("Data");
  data.add_options()("data", po::value<std::string>()->default_value("fashion-mnist"),
                     "fashion-mnist | mnist | cifar10 | hdf5 | npy | synthetic")(
      "data-dir", po::value<std::string>()->default_value(""),
      "folder of the IDX (MNIST, Fashion-MNIST) or CIFAR-10 binary files; fashion-mnist "
      "defaults to /usr/share/datasets/fashion-mnist")(
      "train", po::value<std::string>()->default_value(""),
      "hdf5/npy: training file (npy: the X array)")(
      "test", po::value<std::string>()->default_value(""),
      "hdf5/npy: test file (npy: the X array); none if empty")(
      "train-labels", po::value<std::string>()->default_value(""),
      "npy: training labels file (default: the --train file name with _X replaced by _y, "
      "see docs/cli.md)")("test-labels", po::value<std::string>()->default_value(""),
                          "npy: test labels file (default derived like --train-labels)")(
      "x-name", po::value<std::string>()->default_value("X"),
      "hdf5: dataset of samples x features; npy: the name suffix (_X) replaced when deriving a "
      "labels file name")(
      "y-name", po::value<std::string>()->default_value("y"),
      "hdf5: dataset of labels; npy: the suffix (_y) a derived labels file name gets")(
      "test-x-name", po::value<std::string>()->default_value(""),
      "hdf5: dataset of test samples (default: --x-name), e.g. /test/X to read both sets from "
      "one file")("test-y-name", po::value<std::string>()->default_value(""),
                  "hdf5: dataset of test labels (default: --y-name)")(
      "n", po::value<std::int64_t>()->default_value(2000),
      "training points, chosen by --selection; 0 = all")(
      "n-test", po::value<std::int64_t>()->default_value(0),
      "test points, chosen by --test-selection; 0 = all (synthetic: as many as --n); -1 = no "
      "test set")(
      "task", po::value<std::string>()->default_value("classification"),
      "classification (integer labels) | regression (npy/hdf5 only: the y array holds real "
      "targets, (n,) or (n, k); MSE and R^2 instead of accuracy; selections first)")(
      "selection", po::value<std::string>()->default_value("balanced"),
      "balanced (the first n/C of each class in file order) | first (the first n in file "
      "order, any classes, as the authors' code); regression: first")(
      "test-selection", po::value<std::string>()->default_value("first"),
      "first (the first n-test test points in file order; a class may be missing) | balanced "
      "(like --selection balanced: every class needs n-test/C points)")(
      "classes", po::value<int>()->default_value(0),
      "number of classes; 0 = the data set's (10 for the image sets, max label + 1 for "
      "hdf5/npy, 10 for synthetic)")("dim", po::value<int>()->default_value(64),
                                     "synthetic: input dimension")(
      "separation", po::value<double>()->default_value(1.0),
      "synthetic: scale of the class means (noise has unit variance)")(
      "test-own-statistics", po::bool_switch(),
      "standardise the test set with its own mean/std (mimics the authors' code) instead of "
      "the training statistics");

  po::options_description model("Model");
  model.add_options()("layers", po::value<int>()->default_value(8),
                      "number of Deep RFM layers L (with --resume: the total to reach)")(
      "kernel", po::value<std::string>()->default_value("laplace"), "laplace | gaussian")(
      "bandwidth", po::value<double>()->default_value(2.0), "kernel bandwidth s > 0")(
      "ridge", po::value<double>()->default_value(0.0),
      "ridge mu >= 0 added to the kernel matrix (0 = ridgeless, as in the paper; the authors' "
      "code uses 1e-3)")(
      "ridge-escalation", po::bool_switch(),
      "if a Cholesky factorisation fails, raise the ridge by 10x (from 1e-10 when 0) and retry, "
      "logging every raise; off by default: no ridge is ever added silently")(
      "residual-tolerance", po::value<double>()->default_value(1e-6),
      "stop when a solve's relative residual ||(K + mu I) A - Y|| / ||Y|| exceeds this")(
      "precision", po::value<std::string>()->default_value("double"),
      "double | mixed: mixed stores and factors the kernel matrix in single precision (half "
      "the memory) and refines the solution in double to a relative residual of 1e-10")(
      "iterations", po::value<int>()->default_value(1),
      "RFM iterations per layer T (the original Deep RFM): the kernel of iteration t uses the "
      "Mahalanobis distance of the AGOP M of iteration t-1, and S = M_T^{1/2}; 1 = the paper's "
      "Algorithm 1")("width", po::value<int>()->default_value(512), "random-feature width D")(
      "feature-init", po::value<std::string>()->default_value("gaussian"),
      "gaussian (N(0,1), the paper) | uniform (U[-1/sqrt(d), 1/sqrt(d)], the authors' code)")(
      "seed", po::value<std::uint64_t>()->default_value(1),
      "seed of the random feature maps and of synthetic data");

  po::options_description parallel("Parallel");
  parallel.add_options()(
      "grid", po::value<std::string>()->default_value(""),
      "process grid PrxPc (default: the most square shape for the rank count, Pr <= Pc)")(
      "block-size", po::value<int>()->default_value(la::kDefaultBlockSize),
      "block-cyclic block size")(
      "blas-threads", po::value<int>()->default_value(0),
      "BLAS threads per rank (0 = the library default / OPENBLAS_NUM_THREADS)")(
      "pblas-block", po::value<int>()->default_value(0),
      "PBLAS logical block size (ScaLAPACK's PILAENV; 0 = the smallest multiple of "
      "--block-size >= 512; the reference library's own value is 32)")(
      "mem-limit", po::value<std::string>()->default_value(""),
      "memory a rank may use (e.g. 8G); default: MemAvailable and the cgroup limit, shared "
      "by the ranks of a node");

  po::options_description output("Output and restart");
  output.add_options()("output,o", po::value<std::string>()->default_value("deeprfm-results.h5"),
                       "HDF5 results file (parallel HDF5); it is also the run's checkpoint")(
      "overwrite", po::bool_switch(), "replace an existing output file")(
      "resume", po::value<std::string>()->default_value(""),
      "continue the run stored in this results file from its last complete layer (any rank "
      "count and grid); only --layers, --grid, --block-size, --blas-threads, --pblas-block, "
      "--ridge, "
      "--ridge-escalation, --residual-tolerance and --save-features may differ")(
      "continue", po::bool_switch(),
      "if --output exists, continue it like --resume when it holds this very run (every "
      "option but --grid, --block-size, --blas-threads, --pblas-block, --save-features equal, "
      "defaults included), else refuse; if it does not exist, start it")(
      "save-features", po::value<std::string>()->default_value("last"),
      "none | last | all: layer features written to the file (AGOPs and metrics always are)")(
      "save-model", po::bool_switch(),
      "keep the trained model in the results file (/model: per layer the normalised training "
      "features, coefficients, AGOP square root and W_l) for deeprfm predict; about 8 (n d + "
      "n C + d^2 + D d) bytes per layer, printed at start");

  po::options_description limits("Time limits (docs/checkpointing.md)");
  limits.add_options()("deadline", po::value<std::string>()->default_value(""),
                       "Unix time (s) at which the job is killed; default: $SLURM_JOB_END_TIME "
                       "if set, else none; none or 0 = no deadline")(
      "stop-margin", po::value<double>()->default_value(30.0),
      "seconds before the deadline by which the run must have exited")(
      "stop-grace", po::value<double>()->default_value(60.0),
      "seconds to wait after a stop signal for the next safe point before the layer in flight "
      "is abandoned")(
      "peer-timeout", po::value<double>()->default_value(300.0),
      "seconds without a heartbeat after which a rank counts as lost (stopped, hung or on a lost "
      "node) and every other rank exits 75; 0 = no peer watch");

  po::options_description all(
      "deeprfm: distributed Deep Recursive Feature Machines\n\n"
      "Usage: mpirun -n P deeprfm [options]\n\nOptions");
  all.add(general).add(data).add(model).add(parallel).add(output).add(limits);
  return all;
}

template <class T>
T get(const po::variables_map& vm, const char* name) {
  return vm[name].as<T>();
}

RunOptions from_variables(const po::variables_map& vm) {
  RunOptions o;
  o.data.kind = get<std::string>(vm, "data");
  o.data.data_dir = get<std::string>(vm, "data-dir");
  o.data.train_file = get<std::string>(vm, "train");
  o.data.test_file = get<std::string>(vm, "test");
  o.data.train_labels_file = get<std::string>(vm, "train-labels");
  o.data.test_labels_file = get<std::string>(vm, "test-labels");
  o.data.x_name = get<std::string>(vm, "x-name");
  o.data.y_name = get<std::string>(vm, "y-name");
  o.data.test_x_name = get<std::string>(vm, "test-x-name");
  o.data.test_y_name = get<std::string>(vm, "test-y-name");
  o.data.n = get<std::int64_t>(vm, "n");
  o.data.n_test = get<std::int64_t>(vm, "n-test");
  o.data.task = data::parse_task(get<std::string>(vm, "task"));
  o.data.selection = data::parse_selection(get<std::string>(vm, "selection"), "selection");
  // Regression has no classes to balance: its default training selection is `first` (an
  // explicit `balanced` is refused when the data load).
  const bool regression_first =
      o.data.task == data::Task::regression && vm["selection"].defaulted();
  if (regression_first) o.data.selection = data::Selection::first;
  o.data.test_selection =
      data::parse_selection(get<std::string>(vm, "test-selection"), "test-selection");
  o.data.classes = get<int>(vm, "classes");
  o.data.dim = get<int>(vm, "dim");
  o.data.separation = get<double>(vm, "separation");
  o.data.test_own_statistics = get<bool>(vm, "test-own-statistics");
  const auto seed = get<std::uint64_t>(vm, "seed");
  o.data.seed = seed;

  o.model.layers = get<int>(vm, "layers");
  o.model.kernel.kind = model::parse_kernel_kind(get<std::string>(vm, "kernel"));
  o.model.kernel.bandwidth = get<double>(vm, "bandwidth");
  o.model.ridge = get<double>(vm, "ridge");
  o.model.ridge_escalation = get<bool>(vm, "ridge-escalation");
  o.model.residual_tolerance = get<double>(vm, "residual-tolerance");
  o.model.width = get<int>(vm, "width");
  o.model.iterations = get<int>(vm, "iterations");
  const std::string precision = get<std::string>(vm, "precision");
  DEEPRFM_CHECK(precision == "double" || precision == "mixed", input,
                "--precision '" << precision << "' is not one of: double, mixed");
  o.model.mixed_precision = precision == "mixed";
  o.model.feature_init = model::parse_feature_init(get<std::string>(vm, "feature-init"));
  o.model.seed = seed;
  o.model.block = get<int>(vm, "block-size");

  o.grid = get<std::string>(vm, "grid");
  o.blas_threads = get<int>(vm, "blas-threads");
  o.pblas_block = get<int>(vm, "pblas-block");
  const std::string mem = get<std::string>(vm, "mem-limit");
  o.mem_limit = mem.empty() ? 0.0 : parse_memory_size(mem);
  o.output = get<std::string>(vm, "output");
  o.overwrite = get<bool>(vm, "overwrite");
  o.resume = get<std::string>(vm, "resume");
  o.save_features = get<std::string>(vm, "save-features");
  o.save_model = get<bool>(vm, "save-model");
  o.quiet = get<bool>(vm, "quiet");
  o.continue_run = get<bool>(vm, "continue");
  o.limits.deadline = parse_deadline(get<std::string>(vm, "deadline"));
  o.limits.stop_margin = get<double>(vm, "stop-margin");
  o.limits.stop_grace = get<double>(vm, "stop-grace");
  o.limits.peer_timeout = get<double>(vm, "peer-timeout");
  DEEPRFM_CHECK(std::isfinite(o.limits.stop_margin) && o.limits.stop_margin >= 0, input,
                "--stop-margin must be a number of seconds >= 0, got " << o.limits.stop_margin);
  DEEPRFM_CHECK(std::isfinite(o.limits.stop_grace) && o.limits.stop_grace >= 0, input,
                "--stop-grace must be a number of seconds >= 0, got " << o.limits.stop_grace);
  DEEPRFM_CHECK(
      std::isfinite(o.limits.peer_timeout) && o.limits.peer_timeout >= 0, input,
      "--peer-timeout must be a number of seconds >= 0 (0 = off), got " << o.limits.peer_timeout);

  o.model.validate();
  const std::int64_t n = o.data.n, n_test = o.data.n_test;
  DEEPRFM_CHECK(n >= 0, input, "--n must be >= 0 (0 = all), got " << n);
  DEEPRFM_CHECK(n_test >= -1, input, "--n-test must be >= -1, got " << n_test);
  DEEPRFM_CHECK(o.data.classes >= 0 && o.data.classes != 1, input,
                "--classes must be 0 (from the data) or at least 2, got " << o.data.classes);
  DEEPRFM_CHECK(o.save_features == "none" || o.save_features == "last" || o.save_features == "all",
                input,
                "--save-features '" << o.save_features << "' is not one of: none, last, all");
  DEEPRFM_CHECK(!o.output.empty(), input, "--output must name a file");
  DEEPRFM_CHECK(o.blas_threads >= 0, input, "--blas-threads must be >= 0");
  DEEPRFM_CHECK(o.pblas_block >= 0, input, "--pblas-block must be >= 0, got " << o.pblas_block);
  // Every numeric option within its range before anything is allocated from
  // it (the checks above give the specific messages of the common mistakes).
  check_option_ranges(
      vm, {{"n", 0, kMaxDimension, "an integer in [0, 2147483647] (0 = all)"},
           {"n-test", -1, kMaxDimension, "an integer in [-1, 2147483647] (0 = all, -1 = none)"},
           {"classes", 0, kMaxDimension, "0 (from the data) or an integer >= 2"},
           {"dim", 1, kMaxDimension, "an integer in [1, 2147483647]"},
           {"separation", 0, kMaxFinite, "a finite number >= 0"},
           {"layers", 1, kMaxDimension, "an integer >= 1"},
           {"bandwidth", 0, kMaxFinite, "a finite number > 0"},
           {"ridge", 0, kMaxFinite, "a finite number >= 0"},
           {"residual-tolerance", 0, kMaxFinite, "a finite number > 0"},
           {"iterations", 1, 100, "an integer in [1, 100]"},
           {"width", 1, kMaxDimension, "an integer in [1, 2147483647]"},
           {"seed", 0, kMaxSeed, "an integer in [0, 2^63 - 1] (a negative seed wraps around)"},
           {"block-size", 1, kMaxDimension, "an integer in [1, 2147483647]"},
           {"blas-threads", 0, 4096, "an integer in [0, 4096] (0 = the library default)"},
           {"pblas-block", 0, kMaxDimension, "an integer >= 0 (0 = from --block-size)"},
           {"stop-margin", 0, kMaxFinite, "a finite number of seconds >= 0"},
           {"stop-grace", 0, kMaxFinite, "a finite number of seconds >= 0"}});

  for (const auto& [name, value] : vm) {
    if (invocation_options().count(name)) continue;
    o.effective.emplace_back(name, name == "selection" ? data::to_string(o.data.selection)
                                                       : option_to_text(value.value()));
  }
  return o;
}

void store_or_throw(const std::function<void()>& f) {
  try {
    f();
  } catch (const po::error& e) {
    DEEPRFM_THROW(input, e.what() << " (see deeprfm --help)");
  }
}

}  // namespace

namespace {
/// "--layers, --grid, ... and --save-features": the options a resume may change, as text.
std::string changeable_list() {
  const auto& names = options_changeable_on_resume();
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i)
    text += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + ("--" + names[i]);
  return text;
}
}  // namespace

const std::vector<std::string>& options_technical_on_continue() {
  static const std::vector<std::string> names = {"grid", "block-size", "blas-threads",
                                                 "pblas-block", "save-features"};
  return names;
}

std::string continue_mismatch(const RunOptions& asked,
                              const std::vector<std::pair<std::string, std::string>>& stored) {
  const auto& technical = options_technical_on_continue();
  auto compared = [&](const std::string& name) {
    return !invocation_options().count(name) &&
           std::find(technical.begin(), technical.end(), name) == technical.end();
  };
  std::map<std::string, std::string> have, want;
  for (const auto& [name, value] : with_implied_options(stored))
    if (compared(name)) have[name] = value;
  for (const auto& [name, value] : asked.effective)
    if (compared(name)) want[name] = value;
  std::ostringstream diff;
  int count = 0;
  auto add = [&](const std::string& name, const std::string& a, const std::string& s) {
    diff << (count++ ? "; " : "") << "--" << name << " " << a << " asked, " << s << " stored";
  };
  for (const auto& [name, value] : want) {
    const auto it = have.find(name);
    if (it == have.end())
      add(name, value, "nothing");
    else if (it->second != value)
      add(name, value, it->second);
  }
  for (const auto& [name, value] : have)
    if (!want.count(name)) add(name, "nothing", value);
  if (count == 0) return "";
  return "--continue: " + asked.output + " holds a different run: " + diff.str() +
         " (use another --output, or --overwrite to replace it)";
}

std::string flag_for_subject(const std::string& subject) {
  static const auto lookup = flag_lookup(describe_options());
  return lookup(subject);
}

const std::vector<std::string>& options_changeable_on_resume() {
  static const std::vector<std::string> names = {
      "layers",       "grid",  "block-size",       "blas-threads",
      "pblas-block",  "ridge", "ridge-escalation", "residual-tolerance",
      "save-features"};
  return names;
}

data::DataOptions stored_data_options(
    const std::vector<std::pair<std::string, std::string>>& stored) {
  const po::options_description all = describe_options();
  std::ostringstream text;
  for (const auto& [name, value] : with_implied_options(stored))
    if (!invocation_options().count(name)) text << name << " = " << value << "\n";
  std::istringstream in(text.str());
  po::variables_map vm;
  store_or_throw([&] {
    po::store(po::parse_config_file(in, all), vm);
    po::notify(vm);
  });
  return from_variables(vm).data;
}

ParseResult parse_command_line(int argc, char** argv,
                               const std::vector<std::pair<std::string, std::string>>* stored) {
  ParseResult result;
  const po::options_description all = describe_options();
  po::variables_map cmd;
  store_or_throw([&] {
    po::store(po::command_line_parser(argc, argv).options(all).run(), cmd);
    if (cmd.count("config")) {
      // --resume and --continue choose what the invocation does with an existing file: only
      // the command line may say it (main reads --resume before parsing).
      po::store(parse_config_checked(cmd["config"].as<std::string>(), all,
                                     {"help", "version", "config", "resume", "continue"}),
                cmd);
    }
    po::notify(cmd);
  });

  if (cmd.count("help")) {
    std::ostringstream os;
    os << all
       << "\nDocumentation: docs/cli.md; output layout: docs/hdf5_layout.md; "
          "checkpoints and exit codes: docs/checkpointing.md\n";
    result.text = os.str();
    return result;
  }
  if (cmd.count("version")) {
    result.text = std::string("deeprfm ") + kVersion + " (" + kGitRevision + ")\n";
    return result;
  }

  if (cmd["continue"].as<bool>()) {
    DEEPRFM_CHECK(cmd["resume"].as<std::string>().empty(), input,
                  "--continue and --resume exclude each other (--continue --output FILE resumes "
                  "FILE when it holds the same run)");
    DEEPRFM_CHECK(!cmd["overwrite"].as<bool>(), input,
                  "--continue and --overwrite exclude each other (--continue keeps an existing "
                  "run, --overwrite replaces it)");
  }
  po::variables_map vm;
  if (!cmd["resume"].as<std::string>().empty()) {
    DEEPRFM_CHECK(stored != nullptr, internal, "--resume without the stored options");
    // The stored run is the base; the command line may change only some options.
    std::ostringstream text;
    std::map<std::string, std::string> stored_map;
    for (const auto& [name, value] : with_implied_options(*stored)) {
      if (invocation_options().count(name)) continue;
      stored_map[name] = value;
    }
    const auto& changeable = options_changeable_on_resume();
    for (const auto& [name, value] : cmd) {
      if (value.defaulted() || invocation_options().count(name)) continue;
      const std::string given = option_to_text(value.value());
      const auto it = stored_map.find(name);
      const bool may_change =
          std::find(changeable.begin(), changeable.end(), name) != changeable.end();
      if (may_change) {
        stored_map[name] = given;
      } else if (it == stored_map.end() || it->second != given) {
        DEEPRFM_THROW(input, "--resume: --"
                                 << name << " " << given << " contradicts the stored run ("
                                 << (it == stored_map.end() ? "not set" : it->second) << "); only "
                                 << changeable_list() << " may change");
      }
    }
    // Options given on the command line that steer only this invocation.
    for (const auto& name : invocation_options()) {
      if (name == "help" || name == "version" || name == "config") continue;
      if (cmd.count(name) && !cmd[name].defaulted())
        stored_map[name] = option_to_text(cmd[name].value());
    }
    for (const auto& [name, value] : stored_map) text << name << " = " << value << "\n";
    std::istringstream in(text.str());
    store_or_throw([&] {
      po::store(po::parse_config_file(in, all), vm);
      po::notify(vm);
    });
  } else {
    vm = std::move(cmd);
  }

  result.options = from_variables(vm);
  std::ostringstream cmdline;
  for (int i = 0; i < argc; ++i) cmdline << (i ? " " : "") << argv[i];
  result.options.command_line = cmdline.str();
  if (!result.options.resume.empty()) result.options.output = result.options.resume;
  result.run = true;
  return result;
}

}  // namespace deeprfm::app
