#pragma once
/// The run's HDF5 results file (layout: docs/hdf5_layout.md), written collectively with
/// parallel HDF5 as the run goes: configuration first, then one group per layer, then the
/// metrics table.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/la/process_grid.hpp>
#include <deeprfm/rfm/deep_rfm.hpp>

namespace deeprfm::rfm {

/// The program that writes these files: the root `program` attribute of its results and
/// checkpoints, and the prefix of its messages.
inline constexpr const char* kProgramName = "deeprfm";

/// Facts about the run stored as attributes of the root group.
struct RunInfo {
  std::string command_line;
  std::vector<std::pair<std::string, std::string>> options;  ///< name -> value
  int ranks = 1;
  la::GridShape grid;
  int block = 0;
  std::string blas_library;
  std::string blas_kernels;
  int blas_threads = 1;
  double memory_estimate_bytes = 0;
};

/// Names of the per-layer metrics columns, in table order. Local.
const std::vector<std::string>& metric_columns();
/// Position of a column in metric_columns(); throws std::logic_error for an unknown name. Local.
std::size_t column_index(const std::string& name);
/// train_mse, train_r2, test_mse, test_r2: in the table of a regression run only. Local.
bool is_regression_column(const std::string& name);
/// The row of metric_columns() values for one layer. Local.
std::vector<double> metric_row(const rfm::LayerResult& layer);

class ResultsWriter {
 public:
  /// Create the file (refused if it exists, unless overwrite). Collective over comm.
  ResultsWriter(const std::string& path, bool overwrite, const mpi::Communicator& comm);
  /// Open `path` in any mode (the run store appends to a copy). Collective over comm.
  ResultsWriter(const std::string& path, h5::File::Mode mode, const mpi::Communicator& comm);
  /// Root attributes and /config. Collective.
  void write_run_info(const RunInfo& info);
  /// /data: labels, source indices, standardisation statistics. Collective.
  void write_data(const data::TrainTest& data);
  /// /layers/layer_NN: AGOP, eigenvalues, metrics, timings, and the features X_{l+1} when
  /// `features` is not null. Flushes the file. Collective.
  void write_layer(const rfm::LayerResult& layer, const la::DistMatrix<double>* features);
  /// /metrics: one (L,) dataset per column and the (L x K) table, replacing what was there.
  /// Collective.
  void write_summary(const std::vector<rfm::LayerResult>& layers);
  void write_summary(const std::vector<std::vector<double>>& metric_rows);
  const std::string& path() const { return file_.path(); }
  h5::File& file() { return file_; }

 private:
  h5::File file_;
};

}  // namespace deeprfm::rfm
