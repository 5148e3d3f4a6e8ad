#pragma once
// Command line and config file of the deeprfm-mlp executable (Boost.Program_options).
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/data/dataset.hpp>
#include <deeprfm/mlp/config.hpp>
#include <deeprfm/mlp/run.hpp>

namespace deeprfm::app {

/// Everything the user configured for an MLP run.
struct MlpRunOptions {
  data::DataOptions data;
  mlp::MlpConfig model;
  int block = 128;  ///< block size of the data loading grid
  std::string output = "deeprfm-mlp-results.h5";
  bool overwrite = false;
  bool save_weights = false;
  std::string save_agops = "last";  ///< none | last | all
  int blas_threads = 0;
  bool quiet = false;
  int checkpoint_every = 0;  ///< extra checkpoints every k epochs (0 = at measurements)
  std::string resume;        ///< results file of a run to continue ("" = new run)
  TimeLimits limits;         ///< --deadline, --stop-margin, --stop-grace (this rank's view)
  std::string command_line;
  std::vector<std::pair<std::string, std::string>> effective;
};

struct MlpParseResult {
  bool run = false;
  int exit_code = 0;
  std::string text;
  MlpRunOptions options;
};

/// The deeprfm-mlp flag of a setting an Error is about (Error::subject: "n" -> "--n"), or ""
/// when deeprfm-mlp has no option of that name. Local.
std::string mlp_flag_for_subject(const std::string& subject);

/// The library's settings of a parsed run (mlp::run_mlp). Local.
mlp::RunSettings run_settings(const MlpRunOptions& options);

/// Options that may differ between a run and its --resume (besides the ones that steer only
/// one invocation: --quiet, --config, --output, --overwrite).
const std::vector<std::string>& mlp_options_changeable_on_resume();

/// Parse argv and, if --config is given, the config file (command line wins). With
/// --resume FILE, `stored` must hold the run's stored /config: it is the base, only
/// mlp_options_changeable_on_resume() may be given with another value, and a contradiction
/// throws Error(input) naming the option. Throws Error(input) with a one-line message on bad
/// options. Local (every rank parses the same argv and file identically, so every rank throws
/// the same error).
MlpParseResult parse_mlp_command_line(
    int argc, char** argv,
    const std::vector<std::pair<std::string, std::string>>* stored = nullptr);

}  // namespace deeprfm::app
