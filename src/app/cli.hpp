#pragma once
// Command line and config file of the deeprfm executable (Boost.Program_options).
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/data/dataset.hpp>
#include <deeprfm/rfm/config.hpp>
#include <deeprfm/rfm/run.hpp>

namespace deeprfm::app {

/// Everything the user configured: the run's settings, plus how this invocation finds its file.
struct RunOptions : rfm::RunSettings {
  std::string resume;         ///< results file of a run to continue ("" = new run)
  bool continue_run = false;  ///< --continue: resume --output if it holds this run, else start
  TimeLimits limits;          ///< --deadline, --stop-margin, --stop-grace (this rank's view)
};

/// Outcome of parsing: run, or exit with a code after printing `text` (help, version).
struct ParseResult {
  bool run = false;
  int exit_code = 0;
  std::string text;
  RunOptions options;
};

/// The deeprfm flag of a setting an Error is about (Error::subject: "n" -> "--n"), or "" when
/// deeprfm has no option of that name. Local.
std::string flag_for_subject(const std::string& subject);

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

/// The data options of a stored run (RunStore::options(), a results file's /config), parsed
/// as the run's command line was. Throws Error(input) if they do not parse. Local.
data::DataOptions stored_data_options(
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
