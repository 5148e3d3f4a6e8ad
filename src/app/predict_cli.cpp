#include "predict_cli.hpp"

#include <map>
#include <sstream>

#include <boost/program_options.hpp>

#include "cli.hpp"
#include "option_text.hpp"

#include <deeprfm/base/error.hpp>
#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/version.hpp>

namespace po = boost::program_options;

namespace deeprfm::app {

namespace {

po::options_description describe_predict_options() {
  po::options_description general("General");
  general.add_options()("help,h", "print this help and exit")(
      "version", "print the version and exit")("quiet", po::bool_switch(), "print only errors");
  po::options_description model("Model and output");
  model.add_options()("model", po::value<std::string>()->default_value(""),
                      "results file of a run made with --save-model (required)")(
      "output,o", po::value<std::string>()->default_value("deeprfm-predictions.h5"),
      "HDF5 file of the predictions (docs/hdf5_layout.md)")("overwrite", po::bool_switch(),
                                                            "replace an existing output file")(
      "layers", po::value<int>()->default_value(0),
      "apply the first L layers (0 = every layer the model holds)")(
      "metrics", po::bool_switch(),
      "also the neural-collapse metrics of the data at the three stages of every layer (needs "
      "every class present)");
  po::options_description data("Data (default: the run's own test set)");
  data.add_options()("data", po::value<std::string>()->default_value(""),
                     "fashion-mnist | mnist | cifar10 | hdf5 | npy | synthetic (default: the "
                     "run's); the image sets predict their test split")(
      "data-dir", po::value<std::string>()->default_value(""),
      "folder of the IDX or CIFAR-10 files (fashion-mnist: /usr/share/datasets/fashion-mnist)")(
      "file", po::value<std::string>()->default_value(""),
      "hdf5/npy: the file of the samples to predict (npy: the X array)")(
      "labels", po::value<std::string>()->default_value(""),
      "npy: its labels file (default: derived from --file like deeprfm's --test-labels)")(
      "x-name", po::value<std::string>()->default_value("X"), "hdf5: dataset of the samples")(
      "y-name", po::value<std::string>()->default_value("y"), "hdf5: dataset of the labels")(
      "n", po::value<std::int64_t>()->default_value(0),
      "points to predict: the first n in file order; 0 = all (default with the run's own "
      "data: the run's --n-test, chosen as its --test-selection)");
  po::options_description parallel("Parallel");
  parallel.add_options()("grid", po::value<std::string>()->default_value(""),
                         "process grid PrxPc (default: the most square shape for the rank count)")(
      "block-size", po::value<int>()->default_value(la::kDefaultBlockSize),
      "block-cyclic block size")("blas-threads", po::value<int>()->default_value(0),
                                 "BLAS threads per rank (0 = the library default)");
  po::options_description all(
      "deeprfm predict: apply a saved Deep RFM to data\n\n"
      "Usage: mpirun -n P deeprfm predict --model RUN.h5 [options]\n\nOptions");
  all.add(general).add(model).add(data).add(parallel);
  return all;
}

}  // namespace

PredictCommand parse_predict_command_line(int argc, char** argv) {
  PredictCommand c;
  const po::options_description all = describe_predict_options();
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    DEEPRFM_THROW(input, e.what() << " (see deeprfm predict --help)");
  }
  if (vm.count("help")) {
    std::ostringstream os;
    os << all
       << "\nDocumentation: docs/cli.md (deeprfm predict); file layout: "
          "docs/hdf5_layout.md\n";
    c.text = os.str();
    return c;
  }
  if (vm.count("version")) {
    c.text = std::string("deeprfm ") + kVersion + " (" + kGitRevision + ")\n";
    return c;
  }
  auto& s = c.settings;
  s.model_path = vm["model"].as<std::string>();
  DEEPRFM_CHECK_ABOUT(!s.model_path.empty(), input, "model",
                      "give the model: the results file of a run made with --save-model");
  s.output = vm["output"].as<std::string>();
  s.overwrite = vm["overwrite"].as<bool>();
  s.layers = vm["layers"].as<int>();
  s.metrics = vm["metrics"].as<bool>();
  s.grid = vm["grid"].as<std::string>();
  s.block = vm["block-size"].as<int>();
  s.blas_threads = vm["blas-threads"].as<int>();
  s.quiet = vm["quiet"].as<bool>();
  DEEPRFM_CHECK_ABOUT(s.block > 0, input, "block-size",
                      "the block size must be positive, got " << s.block);
  DEEPRFM_CHECK_ABOUT(s.blas_threads >= 0, input, "blas-threads",
                      "the BLAS thread count must be >= 0, got " << s.blas_threads);
  for (const char* name : {"data", "data-dir", "file", "labels", "x-name", "y-name"})
    if (!vm[name].defaulted()) c.data_given = true;
  c.kind = vm["data"].as<std::string>();
  c.data_dir = vm["data-dir"].as<std::string>();
  c.file = vm["file"].as<std::string>();
  c.labels = vm["labels"].as<std::string>();
  c.x_name = vm["x-name"].as<std::string>();
  c.y_name = vm["y-name"].as<std::string>();
  c.n_given = !vm["n"].defaulted();
  c.n = vm["n"].as<std::int64_t>();
  DEEPRFM_CHECK_ABOUT(c.n >= 0, input, "n",
                      "the number of points must be >= 0 (0 = all), got " << c.n);
  // Every numeric option within its range before anything is allocated from it.
  check_option_ranges(
      vm, {{"n", 0, kMaxDimension, "an integer in [0, 2147483647] (0 = all)"},
           {"blas-threads", 0, 4096, "an integer in [0, 4096] (0 = the library default)"}});
  std::ostringstream cmdline;
  cmdline << "deeprfm";
  for (int i = 0; i < argc; ++i) cmdline << " " << argv[i];
  s.command_line = cmdline.str();
  c.run = true;
  return c;
}

rfm::PredictSettings predict_settings(
    const PredictCommand& c, const std::vector<std::pair<std::string, std::string>>& stored) {
  rfm::PredictSettings s = c.settings;
  const data::DataOptions run = stored_data_options(stored);
  s.data_is_runs = !c.data_given && !c.n_given;
  if (!c.data_given) {
    s.data = run;  // the run's own test set
    if (c.n_given) s.data.n_test = c.n;
    DEEPRFM_CHECK_ABOUT(s.data.n_test >= 0, input, "n",
                        "the run had no test set: give the data to predict");
    return s;
  }
  data::DataOptions d;
  d.kind = c.kind.empty() ? run.kind : c.kind;
  d.data_dir = c.data_dir;
  // The set predicted is the options' test set; npy/hdf5 sources need a training file too,
  // which is opened (header and labels) but not read.
  d.train_file = d.test_file = c.file;
  d.train_labels_file = d.test_labels_file = c.labels;
  d.x_name = c.x_name;
  d.y_name = c.y_name;
  d.n_test = c.n;
  // The generator's settings, for synthetic data.
  d.n = run.n;
  d.dim = run.dim;
  d.separation = run.separation;
  d.seed = run.seed;
  if (d.kind == "npy" || d.kind == "hdf5")
    DEEPRFM_CHECK_ABOUT(!c.file.empty(), input, "test",
                        d.kind << " data needs the file of the samples to predict");
  s.data = d;
  return s;
}

std::string predict_flag_for_subject(const std::string& subject) {
  // The data layer names the run's settings; predict calls some of them differently.
  static const std::map<std::string, std::string> renamed = {{"test", "--file"},
                                                             {"train", "--file"},
                                                             {"test-labels", "--labels"},
                                                             {"train-labels", "--labels"},
                                                             {"test-x-name", "--x-name"},
                                                             {"test-y-name", "--y-name"},
                                                             {"n-test", "--n"}};
  const auto it = renamed.find(subject);
  if (it != renamed.end()) return it->second;
  static const auto lookup = flag_lookup(describe_predict_options());
  return lookup(subject);
}

}  // namespace deeprfm::app
