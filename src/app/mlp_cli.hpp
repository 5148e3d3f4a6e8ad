#pragma once
// Command line and config file of the deeprfm-mlp executable (Boost.Program_options).
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/mlp/config.hpp>

namespace deeprfm::app {

/// Everything the user configured for an MLP run.
struct MlpRunOptions {
  data::DataOptions data;
  mlp::MlpConfig model;
  int block = 128;                 ///< block size of the data loading grid
  std::string output = "deeprfm-mlp-results.h5";
  bool overwrite = false;
  bool save_weights = false;
  std::string save_agops = "last";  ///< none | last | all
  int blas_threads = 0;
  bool quiet = false;
  std::string command_line;
  std::vector<std::pair<std::string, std::string>> effective;
};

struct MlpParseResult {
  bool run = false;
  int exit_code = 0;
  std::string text;
  MlpRunOptions options;
};

/// Parse argv and, if --config is given, the config file (command line wins). Throws
/// Error(input) with a one-line message on bad options. Local (every rank parses the same
/// argv and file identically, so every rank throws the same error).
MlpParseResult parse_mlp_command_line(int argc, char** argv);

}  // namespace deeprfm::app
