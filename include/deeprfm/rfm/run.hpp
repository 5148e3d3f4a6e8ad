#pragma once
/// One deeprfm run from start (or from a checkpoint) to the end: load the data, run the layers,
/// commit each one to the results file, stop at a safe point for a signal or the job's time
/// limit (docs/checkpointing.md). The executable's main() parses the command line and calls
/// run_deep_rfm(); a C++ test can call it directly.
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/mpi/communicator.hpp>
#include <deeprfm/rfm/config.hpp>
#include <deeprfm/rfm/run_store.hpp>
#include <deeprfm/runtime/run_control.hpp>

namespace deeprfm::rfm {

/// What a run needs besides its time limits: the data, the model and the run's technicalities.
struct RunSettings {
  data::DataOptions data;
  ModelConfig model;
  std::string grid;  ///< "RxC"; "" = the most square grid for the rank count
  std::string output = "deeprfm-results.h5";
  bool overwrite = false;
  std::string save_features = "last";  ///< none | last | all
  bool save_model = false;             ///< keep the model in /model (saved_model.hpp)
  int blas_threads = 0;                ///< 0 = leave the BLAS library's default
  int pblas_block = 0;                 ///< PBLAS logical block (PILAENV); 0 = the default
  double mem_limit = 0;                ///< bytes per rank; 0 = what the node offers
  bool quiet = false;
  std::string command_line;  ///< as typed, for the results file
  /// The options that define the run (name -> value as text), stored in the results file and
  /// compared when the run is continued.
  std::vector<std::pair<std::string, std::string>> effective;
};

/// Run (existing == nullptr) or continue (existing: an opened RunStore whose stored options
/// `settings` were built from) the layers. Before every layer, with a deadline in `limits`,
/// checks that the layer fits (else throws TimeLimitStop on every rank: 75 with progress, 76
/// without); after every layer but the last, throws StopRequested on every rank if a stop
/// signal is agreed. Arms `watchdog`'s deadline after the first check. `process_start`
/// (unix_now() at the start of main) sizes the advice of a run that cannot progress. Rank 0
/// prints progress unless `quiet`. Returns the exit code (0). Collective over world.
int run_deep_rfm(const RunSettings& settings, const TimeLimits& limits, double process_start,
                 const mpi::Communicator& world, RunStore* existing, Watchdog& watchdog);

/// Rank 0's final table from metric_row() rows, and the NC1 reduction from the first layer's
/// input to the last layer's output. Local.
void print_metric_table(const std::vector<std::vector<double>>& rows);

}  // namespace deeprfm::rfm
