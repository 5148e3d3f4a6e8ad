#pragma once
/// `deeprfm predict`: apply a saved model (saved_model.hpp) to a data set on any rank count and
/// grid, layer by layer, writing per-layer predictions and accuracy (and, on request, the
/// neural-collapse metrics of the data at the three stages of every layer) to an HDF5 file
/// (docs/hdf5_layout.md, "Predictions file"). The program's main() parses the command line
/// (src/app/predict_cli.cpp) and calls run_predict(); a C++ test can call it directly.
#include <string>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::rfm {

struct PredictSettings {
  std::string model_path;    ///< the results file of a run made with --save-model
  data::DataOptions data;    ///< its test set is the set predicted
  bool data_is_runs = true;  ///< `data` is the run's own (stored) data options
  std::string output = "deeprfm-predictions.h5";
  bool overwrite = false;
  int layers = 0;        ///< apply the first `layers` layers; 0 = all stored
  bool metrics = false;  ///< neural-collapse metrics of the data per layer and stage
  std::string grid;      ///< "RxC"; "" = the most square grid for the rank count
  int block = 0;         ///< block-cyclic block size; 0 = the library default
  int blas_threads = 0;  ///< 0 = the BLAS library's default
  bool quiet = false;
  std::string command_line;
};

/// Per layer of a prediction, identical on every rank.
struct LayerPrediction {
  double accuracy = 0;  ///< classification (NaN for a regression model)
  double mse = 0;       ///< regression: mean squared error and R² (model::regression_metrics)
  double r2 = 0;
  double seconds = 0;  ///< wall time of the layer, largest over ranks
  /// With the run's own test set: max |P - P_run| / max |P_run| against the predictions the
  /// run stored (NaN when not compared).
  double difference_from_run = 0;
};

/// Load the model and the data, predict, write settings.output atomically (refusing an
/// existing file unless overwrite, before any work). Rank 0 prints progress unless quiet.
/// Returns the exit code (0). Collective over world; every failure is agreed.
int run_predict(const PredictSettings& settings, const mpi::Communicator& world);

}  // namespace deeprfm::rfm
