#pragma once
// Command line and config file of the deeprfm executable (Boost.Program_options).
#include <string>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/rfm/config.hpp>

namespace deeprfm::app {

/// Everything the user configured.
struct RunOptions {
  data::DataOptions data;
  rfm::ModelConfig model;
  std::string grid;               ///< "" = most square for the rank count
  std::string output = "deeprfm-results.h5";
  bool overwrite = false;
  std::string save_features = "last";  ///< none | last | all
  int blas_threads = 0;           ///< 0 = leave the BLAS library's default
  bool quiet = false;
  std::string command_line;       ///< as typed, for the output file
  /// Every option's final value as text (name -> value), for the output file.
  std::vector<std::pair<std::string, std::string>> effective;
};

/// Outcome of parsing: run, or exit with a code after printing `text` (help, version).
struct ParseResult {
  bool run = false;
  int exit_code = 0;
  std::string text;
  RunOptions options;
};

/// Parse argv and, if --config is given, the config file (same option names, `name = value`
/// lines, command line wins). Throws Error(input) with a one-line message on bad options.
/// Local (every rank parses the same argv and file identically).
ParseResult parse_command_line(int argc, char** argv);

}  // namespace deeprfm::app
