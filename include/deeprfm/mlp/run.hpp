#pragma once
/// One deeprfm-mlp run from start (or from a checkpoint) to the end: load the data, train,
/// measure, commit checkpoints, react to stop signals (docs/mlp.md). The executable's main()
/// parses the command line and calls run_mlp(); the tests call it directly.
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/data/dataset.hpp>
#include <deeprfm/mlp/checkpoint.hpp>
#include <deeprfm/mlp/config.hpp>
#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::mlp {

/// What a run needs besides the model configuration.
struct RunSettings {
  data::DataOptions data;
  MlpConfig model;
  int block = 128;  ///< block size of the data loading grid
  std::string output = "deeprfm-mlp-results.h5";
  bool overwrite = false;
  bool save_weights = false;
  std::string save_agops = "last";  ///< none | last | all
  int checkpoint_every = 0;         ///< extra commits every k epochs (0: at measurements only)
  bool quiet = false;
  std::string command_line;
  std::vector<std::pair<std::string, std::string>> options;  ///< stored in /config
  /// The job's time limit (the same on every rank, agree_time_limits). With a deadline, every
  /// epoch end checks that the next epoch (the longest span between two epoch ends so far,
  /// commits included) fits before deadline - stop_margin; if not, it commits and throws
  /// TimeLimitStop(75).
  TimeLimits limits;
  /// Test hook: act as if a stop signal (SIGUSR1) arrived on every rank during this epoch
  /// (0 = never).
  int simulated_stop_epoch = 0;
};

/// What the run leaves (the same on every rank).
struct RunSummary {
  int epochs_done = 0;
  std::vector<std::vector<double>> metric_rows;  ///< metric_row() of every measurement so far
  std::vector<std::vector<double>> epoch_rows;   ///< epoch_row() of every epoch so far
  std::vector<double> parameters;                ///< the final weights
};

/// Run (existing == nullptr) or continue (existing: an opened checkpoint whose stored options
/// `settings` were built from) the training. Commits a checkpoint after every measurement,
/// every `checkpoint_every` epochs and when a stop signal is agreed at an epoch end; then
/// throws StopRequested (runtime/run_control.hpp) on every rank. A non-finite loss is an agreed
/// Error(numerical). Rank 0 prints progress unless `quiet`. Collective over world.
RunSummary run_mlp(const RunSettings& settings, const mpi::Communicator& world,
                   CheckpointStore* existing);

/// Rank 0's lines: one per measurement, and the final per-layer table from metric rows.
/// Local.
void print_measurement(const Measurement& m);
void print_final_table(const std::vector<std::vector<double>>& metric_rows);

}  // namespace deeprfm::mlp
