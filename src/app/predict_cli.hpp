#pragma once
// Command line of `deeprfm predict` (Boost.Program_options); docs/cli.md, "deeprfm predict".
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/rfm/predict.hpp>

namespace deeprfm::app {

/// What the predict command line asked for. The data set is completed by predict_settings()
/// once the model's stored options are known.
struct PredictCommand {
  bool run = false;  ///< false: print `text` and exit 0 (help, version)
  std::string text;
  rfm::PredictSettings settings;  ///< all but the data options
  bool data_given = false;  ///< any of --data, --data-dir, --file, --labels, --x-name, --y-name
  std::string kind, data_dir, file, labels, x_name, y_name;
  bool n_given = false;
  std::int64_t n = 0;
};

/// Parse `deeprfm predict` arguments (argv[0] is "predict"). Throws Error(input) with a
/// one-line message on bad options. Local (every rank parses the same argv identically).
PredictCommand parse_predict_command_line(int argc, char** argv);

/// The settings with the data set to predict: the run's own test set (its stored options,
/// `stored`) when no data option was given, else the data the options name (kind, numbers and
/// the synthetic generator's settings default to the run's). Local.
rfm::PredictSettings predict_settings(
    const PredictCommand& command, const std::vector<std::pair<std::string, std::string>>& stored);

/// The predict flag of a setting an Error is about ("n" -> "--n"), or "". Local.
std::string predict_flag_for_subject(const std::string& subject);

}  // namespace deeprfm::app
