#pragma once
/// A trained Deep RFM kept for prediction (docs/hdf5_layout.md, "/model"): what applying layer
/// l to new data needs, stored in the run's results file when the run is given --save-model.
///
/// Layer l maps its input Z_l (rows = samples) to predictions and to the next layer's input:
///   Z_l <- Z_l / ||row||                        (row normalisation, as in training)
///   P_l  = k(Z_l, X_l) A_l                      (X_l: the layer's normalised training
///                                                features, A_l: its coefficients)
///   Z_{l+1} = ReLU(Z_l S_l W_l^T)               (S_l = G_l^{1/2}, W_l: width x d_l)
/// and the first layer's input is the raw data standardised with the stored training
/// statistics (or the data's own, for a run with --test-own-statistics).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/la/process_grid.hpp>
#include <deeprfm/model/feature_map.hpp>
#include <deeprfm/model/kernel.hpp>

namespace deeprfm::rfm {

/// The /model group's `format` attribute and the newest layout this program reads and writes.
inline constexpr const char* kModelFormat = "deeprfm-model";
inline constexpr std::int64_t kModelFormatVersion = 1;

/// The model-wide facts (the /model group's attributes and statistics).
struct ModelInfo {
  model::Kernel kernel;
  int width = 0;  ///< D
  model::FeatureInit feature_init = model::FeatureInit::gaussian;
  std::uint64_t seed = 0;
  int classes = 0;                   ///< C, or k target columns for regression
  bool regression = false;           ///< task: real-valued targets (no argmax)
  int dim_input = 0;                 ///< d of the raw data
  bool test_own_statistics = false;  ///< new data is standardised with its own statistics
  std::vector<double> feature_mean;  ///< training statistics (dim_input)
  std::vector<double> feature_std;
  int layers = 0;  ///< layers stored (grows with every committed layer)
};

/// One layer's part of the model. The distributed members live on the grid they were made on.
struct LayerModel {
  int layer = 0;   ///< 0-based
  int dim_in = 0;  ///< d_l
  double ridge = 0;
  la::DistMatrix<double> centres;  ///< X_l after row normalisation (times kernel_map), n x d_l
  /// With --iterations T > 1: M_{T-1}^{1/2} (d_l x d_l row-major), the map the last
  /// iteration's kernel applies to its points; empty for T = 1 (the identity).
  std::vector<double> kernel_map;
  la::DistMatrix<double> coefficients;      ///< A_l, n x C
  std::vector<double> sqrt_agop;            ///< S_l, d_l x d_l row-major, replicated
  std::vector<double> random_features;      ///< W_l, width x d_l row-major, replicated
  la::DistMatrix<double> test_predictions;  ///< the run's own P_l of its test set (n_test x C;
                                            ///< 0 rows without one), to check a predictor
};

/// Bytes one layer adds to the results file (its datasets' raw size, without HDF5 metadata):
/// 8 (n d + n C + d^2 + D d + n_test C). Local (pure).
double saved_model_layer_bytes(double n, double d, double width, double classes, double n_test);

/// Write the /model group's attributes and statistics (0 layers). Collective over f's comm.
void write_model_info(h5::File& f, const ModelInfo& info);

/// Write /model/layer_NN and raise /model's `layers` to layer.layer + 1. Collective.
void write_model_layer(h5::File& f, const LayerModel& layer);

/// A saved model opened for reading.
class SavedModel {
 public:
  /// Open `path` and read /model's attributes. Refuses (agreed Error(input) on every rank,
  /// naming the file) a file that is not HDF5, a file written by another program (its root
  /// `program` named), a deeprfm results file without a model (run with --save-model), and a
  /// newer model format. Collective over comm; `comm` must outlive the object.
  SavedModel(const std::string& path, const mpi::Communicator& comm);

  const ModelInfo& info() const { return info_; }
  const std::string& path() const { return path_; }
  /// The root `version` of the program that wrote the model. Local.
  const std::string& written_by() const { return written_by_; }
  /// The run's stored options (/config: name -> value as text). Local.
  const std::vector<std::pair<std::string, std::string>>& run_options() const { return options_; }

  /// Layer `layer` (0-based, < info().layers) onto `grid` with block size `block`; with
  /// `with_test_predictions`, also the run's own test predictions. Checks the stored shapes
  /// against each other (agreed Error(input) naming the dataset). Collective over the grid.
  LayerModel load_layer(int layer, const la::ProcessGrid& grid, int block,
                        bool with_test_predictions = false) const;

 private:
  std::string path_;
  const mpi::Communicator& comm_;
  ModelInfo info_;
  std::string written_by_;
  std::vector<std::pair<std::string, std::string>> options_;
};

}  // namespace deeprfm::rfm
