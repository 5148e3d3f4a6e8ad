#pragma once
/// The HDF5 results file of deeprfm-mlp (layout: docs/hdf5_layout.md, "deeprfm-mlp results",
/// and docs/mlp.md), written collectively with parallel HDF5 as the run goes.
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/mlp/trainer.hpp>

namespace deeprfm::mlp {

/// The program that writes these files: the root `program` attribute of its results and
/// checkpoints, and the prefix of its messages.
inline constexpr const char* kProgramName = "deeprfm-mlp";

/// Names of the /metrics/table columns, in order (one row per measurement epoch x layer).
/// Local.
const std::vector<std::string>& metric_columns();
/// The metric_columns() row of one layer of one measurement. Local.
std::vector<double> metric_row(const Measurement& m, const LayerMeasurement& layer);

/// Names of the /epochs/table columns. Local.
const std::vector<std::string>& epoch_columns();

/// The epoch_columns() row of one epoch (NaN for values not evaluated). Local.
std::vector<double> epoch_row(const EpochRecord& e);

/// "epoch_0010" for epoch 10. Local.
std::string epoch_group(int epoch);

class ResultsWriter {
 public:
  /// Create the file (Error(input) if it exists, unless overwrite). Collective over comm.
  ResultsWriter(const std::string& path, bool overwrite, const mpi::Communicator& comm);
  /// Open or create with an explicit mode (the checkpoint store writes copies in read_write
  /// mode). Collective over comm.
  ResultsWriter(const std::string& path, h5::File::Mode mode, const mpi::Communicator& comm);
  /// Root attributes (program, version, command line, ranks, BLAS) and /config (every option
  /// as text). Collective.
  void write_run_info(const std::string& command_line,
                      const std::vector<std::pair<std::string, std::string>>& options, int ranks,
                      const std::string& blas_library, int blas_threads, std::int64_t parameters);
  /// /data: sizes, labels, source indices, standardisation statistics. Collective.
  void write_data(const data::TrainTest& data);
  /// /measurements/epoch_NNNN (+ /layer_NN per hidden layer; the AGOPs when save_agops).
  /// Flushes. Collective.
  void write_measurement(const Measurement& m, bool save_agops);
  /// /epochs: per-epoch table and one dataset per column. Collective.
  void write_epochs(const std::vector<EpochRecord>& epochs);
  /// /metrics: the (measurements x layers) table and one dataset per column. Collective.
  void write_metrics(const std::vector<Measurement>& measurements);
  /// The same two groups from rows (epoch_row() / metric_row()); an existing group is
  /// replaced whole (the tables grow as the run goes). Collective.
  void write_epoch_rows(const std::vector<std::vector<double>>& rows);
  void write_metric_rows(const std::vector<std::vector<double>>& rows);
  /// /weights/layer_NN (hidden) and /weights/readout, row-major out x in. Collective.
  void write_weights(const Network& net);
  /// Root attribute "wall_seconds" and "completed" = 1. Flushes. Collective.
  void finish(double wall_seconds);
  const std::string& path() const { return file_.path(); }
  h5::File& file() { return file_; }

 private:
  h5::File file_;
};

}  // namespace deeprfm::mlp
