#pragma once
// Command line and config file of the deeprfm executable (Boost.Program_options).
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/core/run_control.hpp>
#include <deeprfm/data/dataset.hpp>
#include <deeprfm/rfm/config.hpp>

namespace deeprfm::app {

/// Everything the user configured.
struct RunOptions {
  data::DataOptions data;
  rfm::ModelConfig model;
  std::string grid;  ///< "" = most square for the rank count
  std::string output = "deeprfm-results.h5";
  bool overwrite = false;
  std::string resume;                  ///< results file of a run to continue ("" = new run)
  std::string save_features = "last";  ///< none | last | all
  int blas_threads = 0;                ///< 0 = leave the BLAS library's default
  int pblas_block = 0;                 ///< PBLAS logical block (PILAENV); 0 = the default
  double mem_limit = 0;                ///< bytes per rank; 0 = what the node offers
  bool quiet = false;
  bool continue_run = false;  ///< --continue: resume --output if it holds this run, else start
  TimeLimits limits;          ///< --deadline, --stop-margin, --stop-grace (this rank's view)
  std::string command_line;   ///< as typed, for the output file
  /// The options that define the run (name -> value as text), stored in the output file and
  /// compared on --resume. Excludes options that only steer this invocation.
  std::vector<std::pair<std::string, std::string>> effective;
};

/// Outcome of parsing: run, or exit with a code after printing `text` (help, version).
struct ParseResult {
  bool run = false;
  int exit_code = 0;
  std::string text;
  RunOptions options;
};

/// Options that may differ between a run and its --resume.
const std::vector<std::string>& options_changeable_on_resume();

/// Options that --continue lets differ from the stored run (they change speed or round-off
/// only); the command line's value is used.
const std::vector<std::string>& options_technical_on_continue();

/// With --continue: "" if `stored` (RunStore::options()) holds the run `asked` describes (every
/// stored option equal except options_technical_on_continue()), else the one error message
/// naming every difference with both values. Local.
std::string continue_mismatch(const RunOptions& asked,
                              const std::vector<std::pair<std::string, std::string>>& stored);

/// Parse argv and, if --config is given, the config file (same option names, `name = value`
/// lines, command line wins). With --resume FILE, `stored` must hold the run's stored options
/// (RunStore::options()): they are the base, the command line may change only the options of
/// options_changeable_on_resume(), and a contradiction throws Error(input) naming it.
/// Throws Error(input) with a one-line message on bad options. Local (every rank parses the
/// same argv and file identically).
ParseResult parse_command_line(
    int argc, char** argv,
    const std::vector<std::pair<std::string, std::string>>* stored = nullptr);

}  // namespace deeprfm::app
