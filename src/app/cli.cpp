#include "cli.hpp"

#include <fstream>
#include <iomanip>
#include <sstream>

#include <boost/program_options.hpp>

#include <deeprfm/core/error.hpp>
#include <deeprfm/version.hpp>

namespace po = boost::program_options;

namespace deeprfm::app {

namespace {

std::string to_text(const boost::any& value) {
  if (value.type() == typeid(std::string)) return boost::any_cast<std::string>(value);
  if (value.type() == typeid(int)) return std::to_string(boost::any_cast<int>(value));
  if (value.type() == typeid(long)) return std::to_string(boost::any_cast<long>(value));
  if (value.type() == typeid(long long)) return std::to_string(boost::any_cast<long long>(value));
  if (value.type() == typeid(unsigned long))
    return std::to_string(boost::any_cast<unsigned long>(value));
  if (value.type() == typeid(unsigned long long))
    return std::to_string(boost::any_cast<unsigned long long>(value));
  if (value.type() == typeid(bool)) return boost::any_cast<bool>(value) ? "true" : "false";
  if (value.type() == typeid(double)) {
    std::ostringstream os;
    os << std::setprecision(17) << boost::any_cast<double>(value);
    return os.str();
  }
  return "?";
}

}  // namespace

ParseResult parse_command_line(int argc, char** argv) {
  ParseResult result;
  RunOptions& o = result.options;
  std::string kernel = "laplace", feature_init = "gaussian", config_file;
  std::int64_t n = o.data.n, n_test = o.data.n_test;
  std::uint64_t seed = 1;

  po::options_description general("General");
  general.add_options()
      ("help,h", "print this help and exit")
      ("version", "print the version and exit")
      ("config", po::value<std::string>(&config_file),
       "read options from this file (lines 'name = value', same names as below; the command "
       "line wins)")
      ("quiet", po::bool_switch(&o.quiet), "print only errors and the final table");

  po::options_description data("Data");
  data.add_options()
      ("data", po::value<std::string>(&o.data.kind)->default_value("fashion-mnist"),
       "fashion-mnist | mnist | cifar10 | hdf5 | npy | synthetic")
      ("data-dir", po::value<std::string>(&o.data.data_dir)->default_value(""),
       "folder of the IDX (MNIST, Fashion-MNIST) or CIFAR-10 binary files; fashion-mnist "
       "defaults to /usr/share/datasets/fashion-mnist")
      ("train", po::value<std::string>(&o.data.train_file)->default_value(""),
       "hdf5/npy: training file (npy: the X array)")
      ("test", po::value<std::string>(&o.data.test_file)->default_value(""),
       "hdf5/npy: test file (npy: the X array); none if empty")
      ("train-labels", po::value<std::string>(&o.data.train_labels_file)->default_value(""),
       "npy: training labels file (default: the --train file name with _X replaced by _y, "
       "see docs/cli.md)")
      ("test-labels", po::value<std::string>(&o.data.test_labels_file)->default_value(""),
       "npy: test labels file (default derived like --train-labels)")
      ("x-name", po::value<std::string>(&o.data.x_name)->default_value("X"),
       "hdf5: dataset of samples x features")
      ("y-name", po::value<std::string>(&o.data.y_name)->default_value("y"),
       "hdf5: dataset of labels")
      ("n", po::value<std::int64_t>(&n)->default_value(2000),
       "training points, class-balanced (the first n/C of each class); 0 = all")
      ("n-test", po::value<std::int64_t>(&n_test)->default_value(0),
       "test points, class-balanced; 0 = all (synthetic: as many as --n); -1 = no test set")
      ("classes", po::value<int>(&o.data.classes)->default_value(0),
       "number of classes; 0 = the data set's (10 for the image sets, max label + 1 for "
       "hdf5/npy, 10 for synthetic)")
      ("dim", po::value<int>(&o.data.dim)->default_value(64), "synthetic: input dimension")
      ("separation", po::value<double>(&o.data.separation)->default_value(1.0),
       "synthetic: scale of the class means (noise has unit variance)")
      ("test-own-statistics", po::bool_switch(&o.data.test_own_statistics),
       "standardise the test set with its own mean/std (mimics the authors' code) instead of "
       "the training statistics");

  po::options_description model("Model");
  model.add_options()
      ("layers", po::value<int>(&o.model.layers)->default_value(8), "number of Deep RFM layers L")
      ("kernel", po::value<std::string>(&kernel)->default_value("laplace"), "laplace | gaussian")
      ("bandwidth", po::value<double>(&o.model.kernel.bandwidth)->default_value(2.0),
       "kernel bandwidth s > 0")
      ("ridge", po::value<double>(&o.model.ridge)->default_value(0.0),
       "ridge mu >= 0 added to the kernel matrix (0 = ridgeless, as in the paper; the authors' "
       "code uses 1e-3)")
      ("width", po::value<int>(&o.model.width)->default_value(512), "random-feature width D")
      ("feature-init", po::value<std::string>(&feature_init)->default_value("gaussian"),
       "gaussian (N(0,1), the paper) | uniform (U[-1/sqrt(d), 1/sqrt(d)], the authors' code)")
      ("seed", po::value<std::uint64_t>(&seed)->default_value(1),
       "seed of the random feature maps and of synthetic data");

  po::options_description parallel("Parallel");
  parallel.add_options()
      ("grid", po::value<std::string>(&o.grid)->default_value(""),
       "process grid PrxPc (default: the most square shape for the rank count, Pr <= Pc)")
      ("block-size", po::value<int>(&o.model.block)->default_value(la::kDefaultBlockSize),
       "block-cyclic block size")
      ("blas-threads", po::value<int>(&o.blas_threads)->default_value(0),
       "BLAS threads per rank (0 = the library default / OPENBLAS_NUM_THREADS)");

  po::options_description output("Output");
  output.add_options()
      ("output,o", po::value<std::string>(&o.output)->default_value("deeprfm-results.h5"),
       "HDF5 results file (parallel HDF5)")
      ("overwrite", po::bool_switch(&o.overwrite), "replace an existing output file")
      ("save-features", po::value<std::string>(&o.save_features)->default_value("last"),
       "none | last | all: layer features written to the file (AGOPs and metrics always are)");

  po::options_description all("deeprfm: distributed Deep Recursive Feature Machines\n\n"
                              "Usage: mpirun -n P deeprfm [options]\n\nOptions");
  all.add(general).add(data).add(model).add(parallel).add(output);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream in(path);
      DEEPRFM_CHECK(in.good(), input, "cannot read config file '" << path << "'");
      po::store(po::parse_config_file(in, all), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    DEEPRFM_THROW(input, e.what() << " (see deeprfm --help)");
  }

  if (vm.count("help")) {
    std::ostringstream os;
    os << all << "\nDocumentation: docs/cli.md; output layout: docs/hdf5_layout.md\n";
    result.text = os.str();
    return result;
  }
  if (vm.count("version")) {
    result.text = std::string("deeprfm ") + kVersion + " (" + kGitRevision + ")\n";
    return result;
  }

  o.data.n = n;
  o.data.n_test = n_test;
  o.data.seed = seed;
  o.model.seed = seed;
  o.model.kernel.kind = kernels::parse_kernel_kind(kernel);
  o.model.feature_init = rfm::parse_feature_init(feature_init);
  o.model.validate();
  DEEPRFM_CHECK(n >= 0, input, "--n must be >= 0 (0 = all), got " << n);
  DEEPRFM_CHECK(n_test >= -1, input, "--n-test must be >= -1, got " << n_test);
  DEEPRFM_CHECK(o.data.classes >= 0 && o.data.classes != 1, input,
                "--classes must be 0 (from the data) or at least 2, got " << o.data.classes);
  DEEPRFM_CHECK(o.save_features == "none" || o.save_features == "last" ||
                    o.save_features == "all",
                input, "--save-features '" << o.save_features << "' is not one of: none, last, all");
  DEEPRFM_CHECK(!o.output.empty(), input, "--output must name a file");
  DEEPRFM_CHECK(o.blas_threads >= 0, input, "--blas-threads must be >= 0");

  std::ostringstream cmd;
  for (int i = 0; i < argc; ++i) cmd << (i ? " " : "") << argv[i];
  o.command_line = cmd.str();
  for (const auto& [name, value] : vm) {
    if (name == "help" || name == "version") continue;
    o.effective.emplace_back(name, to_text(value.value()));
  }
  result.run = true;
  return result;
}

}  // namespace deeprfm::app
