#pragma once
/// The run's results file as a checkpoint (docs/checkpointing.md). After every completed layer
/// the file holds everything needed to continue: configuration, labels, metrics so far, the
/// number of complete layers and the name of a companion file with the next layer's input
/// features (train and test, written collectively). Every commit is atomic: the companion file
/// and a copy of the results file are written under temporary names, then renamed over the old
/// ones (rename is atomic on POSIX file systems), the old companion file removed last. A crash
/// at any instant leaves the previous complete checkpoint or the new one.
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/rfm/results_writer.hpp>
#include <deeprfm/rfm/saved_model.hpp>

namespace deeprfm::rfm {

/// A run as stored in its results file.
class RunStore {
 public:
  /// Collective over comm (nothing is opened yet).
  RunStore(std::string path, const mpi::Communicator& comm);

  /// Start a new run: write run info and data into the results file, with 0 complete layers
  /// (refusing an existing file unless `overwrite`), and the /model group when `model` is not
  /// null (the run saves its model). Collective.
  void create(bool overwrite, const RunInfo& info, const data::TrainTest& data, int layers_planned,
              const ModelInfo* model = nullptr);

  /// Read an existing run's checkpoint (refusing a file that is not a deeprfm checkpoint),
  /// and remove stale temporary and companion files left by a crash. Collective.
  void open_existing();

  /// Commit a completed layer: the next layer's input features (x, x_test) go to a new
  /// companion file, the layer's results into the results file (its features too when
  /// `save_features`), and the layer's model when `model` is not null, atomically.
  /// Collective.
  void commit_layer(const rfm::LayerResult& layer, const la::DistMatrix<double>& x,
                    const la::DistMatrix<double>& x_test, bool save_features, int layers_planned,
                    const LayerModel* model = nullptr);

  /// Record that the run finished all planned layers. Collective.
  void mark_complete(int layers_planned);

  /// Load the state to continue from (labels, class count, the features of the last complete
  /// layer) onto `grid`. Requires completed_layers() >= 1. Collective.
  data::TrainTest load_state(const la::ProcessGrid& grid, int block) const;

  const std::string& path() const { return path_; }
  int completed_layers() const { return completed_layers_; }
  int layers_planned() const { return layers_planned_; }
  bool complete() const { return complete_; }
  /// The stored run configuration (name -> value), as written at creation. Local.
  const std::vector<std::pair<std::string, std::string>>& options() const { return options_; }
  /// One metric_row() per complete layer. Local.
  const std::vector<std::vector<double>>& metric_rows() const { return metric_rows_; }
  /// Per complete layer: its input dimension and the rank count that computed it (the layer
  /// groups' dim_in and ranks attributes). Local.
  const std::vector<int>& layer_dims() const { return layer_dims_; }
  const std::vector<int>& layer_ranks() const { return layer_ranks_; }
  /// Per complete layer: its wall seconds (the layer group's wall_seconds; 0 if not stored).
  /// Local.
  const std::vector<double>& layer_wall_seconds() const { return layer_wall_; }
  /// Companion file of the checkpoint after `completed` layers. Local.
  std::string companion_path(int completed) const;
  /// Its file name without the folder, as /checkpoint/state_file stores it ("" for 0). Local.
  std::string companion_name(int completed) const;

 private:
  void write_checkpoint_attributes(h5::File& f, int layers_planned) const;

  std::string path_;
  const mpi::Communicator& comm_;
  int completed_layers_ = 0;
  int layers_planned_ = 0;
  bool complete_ = false;
  std::vector<std::pair<std::string, std::string>> options_;
  std::vector<std::vector<double>> metric_rows_;
  std::vector<int> layer_dims_;
  std::vector<int> layer_ranks_;
  std::vector<double> layer_wall_;
};

}  // namespace deeprfm::rfm
