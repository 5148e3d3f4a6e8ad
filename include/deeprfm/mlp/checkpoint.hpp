#pragma once
/// deeprfm-mlp's results file as a checkpoint (docs/mlp.md, "Checkpoints and resume"), the MLP
/// counterpart of rfm::RunStore. After a commit the results file holds the configuration, the
/// data's labels, every measurement and epoch record so far and a /checkpoint group naming a
/// companion state file `<output>.epochNNNN.state.h5` with the replicated weights and the
/// optimiser state (moments, step count). The minibatch order depends only on (seed, epoch),
/// so the epoch count is the random generator's position. Every commit is atomic, as in
/// src/rfm/run_store.cpp: the state file and a copy of the results file are written under
/// temporary names, rank 0 fsyncs and renames them over the old ones (rename(2) is atomic),
/// and the previous state file is removed last. A crash at any instant leaves the previous
/// complete checkpoint or the new one; the results file is never written in place.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/mlp/trainer.hpp>
#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::mlp {

/// Everything needed to continue training after `epoch` complete epochs.
struct TrainingState {
  int epoch = 0;
  std::vector<double> parameters;     ///< Network::parameters()
  std::vector<double> first_moment;   ///< Adam m / SGD momentum buffer
  std::vector<double> second_moment;  ///< Adam v (empty for SGD)
  long steps = 0;                     ///< optimiser steps taken (Adam's bias correction)
};

/// The root attributes and /config of a new run.
struct RunHeader {
  std::string command_line;
  std::vector<std::pair<std::string, std::string>> options;
  int ranks = 1;
  std::string blas_library;
  int blas_threads = 1;
  std::int64_t parameters = 0;
};

class CheckpointStore {
 public:
  /// Nothing is opened yet. The communicator must outlive the store. Local.
  CheckpointStore(std::string path, const mpi::Communicator& comm);

  /// A new run: the results file with run info, data and a /checkpoint saying "nothing done"
  /// (written to `<path>.tmp`, then renamed). Refuses an existing file unless `overwrite`
  /// (then stale state files of the old run are removed). Collective.
  void create(bool overwrite, const RunHeader& header, const data::TrainTest& data,
              int epochs_planned);

  /// Read a stopped or finished run: refuses a file that is not a deeprfm-mlp results file
  /// with a /checkpoint (naming what it is), reads the stored options, rows and labels,
  /// removes leftovers of an interrupted commit and checks that the state file is there.
  /// Collective.
  void open_existing();

  /// Commit the state after `state.epoch` epochs: writes the state file, then a copy of the
  /// results file with `new_measurements` added (their AGOPs when not empty), the /epochs and
  /// /metrics tables replaced by `epoch_rows` / `metric_rows` (all rows so far), the final
  /// weights when `weights` is given, and when `complete` the root attributes completed = 1
  /// and wall_seconds; then renames both into place. Collective (identical arguments on every
  /// rank).
  void commit(const TrainingState& state, const std::vector<Measurement>& new_measurements,
              const std::vector<std::vector<double>>& metric_rows,
              const std::vector<std::vector<double>>& epoch_rows, int epochs_planned,
              const Network* weights, double wall_seconds, bool complete);

  /// The committed state (requires has_state()). Every rank reads the whole state file.
  /// Collective.
  TrainingState load_state() const;

  const std::string& path() const { return path_; }
  /// False until the first commit (the measurement at epoch 0). Local.
  bool has_state() const { return !state_file_.empty(); }
  int completed_epochs() const { return completed_epochs_; }
  int epochs_planned() const { return epochs_planned_; }
  bool complete() const { return complete_; }
  /// Wall seconds of the invocations so far (summed over resumes). Local.
  double wall_seconds() const { return wall_seconds_; }
  /// The stored /config (name -> value). Local.
  const std::vector<std::pair<std::string, std::string>>& options() const { return options_; }
  const std::vector<std::vector<double>>& metric_rows() const { return metric_rows_; }
  const std::vector<std::vector<double>>& epoch_rows() const { return epoch_rows_; }
  /// The stored training labels and input dimension (to check the reloaded data). Local.
  const std::vector<std::int64_t>& train_labels() const { return train_labels_; }
  std::int64_t input_dim() const { return input_dim_; }
  /// `<path>.epochNNNN.state.h5`. Local.
  std::string state_path(int epoch) const;

 private:
  /// Rank 0 removes `<path>.tmp` and every state file of this run except `keep` ("" = all).
  void remove_leftovers(const std::string& keep) const;

  std::string path_;
  const mpi::Communicator& comm_;
  int completed_epochs_ = 0;
  int epochs_planned_ = 0;
  bool complete_ = false;
  double wall_seconds_ = 0;
  std::string state_file_;  ///< file name (no folder) of the committed state, "" = none
  std::vector<std::pair<std::string, std::string>> options_;
  std::vector<std::vector<double>> metric_rows_, epoch_rows_;
  std::vector<std::int64_t> train_labels_;
  std::int64_t input_dim_ = 0;
};

}  // namespace deeprfm::mlp
