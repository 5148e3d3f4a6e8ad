#include <deeprfm/rfm/results_writer.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <deeprfm/store/results_file.hpp>

namespace deeprfm::rfm {

namespace {
h5::File::Mode mode_for(bool overwrite) {
  return overwrite ? h5::File::Mode::create_truncate : h5::File::Mode::create_exclusive;
}
}  // namespace

const std::vector<std::string>& metric_columns() {
  static const std::vector<std::string> columns = {
      "layer",           "nc1_input",      "nc1_projected",
      "nc1_mapped",      "nc1_pinv_input", "nc1_pinv_projected",
      "nc1_pinv_mapped", "nc2_etf_input",  "nc2_etf_projected",
      "nc2_etf_mapped",  "nc2_orth_input", "nc2_orth_projected",
      "nc2_orth_mapped", "train_accuracy", "test_accuracy",
      "residual",        "rcond",          "seconds",
      "train_mse",       "train_r2",       "test_mse",
      "test_r2"};
  return columns;
}

std::size_t column_index(const std::string& name) {
  const auto& columns = metric_columns();
  const auto it = std::find(columns.begin(), columns.end(), name);
  if (it == columns.end()) throw std::logic_error("no metric column " + name);
  return static_cast<std::size_t>(it - columns.begin());
}

bool is_regression_column(const std::string& name) {
  return name == "train_mse" || name == "train_r2" || name == "test_mse" || name == "test_r2";
}

std::vector<double> metric_row(const rfm::LayerResult& l) {
  double seconds = 0;
  for (const auto& name : l.timers.order()) seconds += l.timers.at(name).seconds;
  return {double(l.layer + 1),
          l.input.nc1,
          l.projected.nc1,
          l.mapped.nc1,
          l.input.nc1_pinv,
          l.projected.nc1_pinv,
          l.mapped.nc1_pinv,
          l.input.nc2_etf,
          l.projected.nc2_etf,
          l.mapped.nc2_etf,
          l.input.nc2_orth,
          l.projected.nc2_orth,
          l.mapped.nc2_orth,
          l.train_accuracy,
          l.test_accuracy,
          l.residual,
          l.rcond,
          seconds,
          l.train_mse,
          l.train_r2,
          l.test_mse,
          l.test_r2};
}

ResultsWriter::ResultsWriter(const std::string& path, bool overwrite, const mpi::Communicator& comm)
    : file_(path, mode_for(overwrite), comm) {}

ResultsWriter::ResultsWriter(const std::string& path, h5::File::Mode mode,
                             const mpi::Communicator& comm)
    : file_(path, mode, comm) {}

void ResultsWriter::write_run_info(const RunInfo& info) {
  h5::File& f = file_;
  store::write_program_attributes(f, kProgramName);
  f.write_attribute("/", "command_line", info.command_line);
  f.write_attribute("/", "ranks", static_cast<std::int64_t>(info.ranks));
  f.write_attribute("/", "grid", info.grid.str());
  f.write_attribute("/", "grid_rows", static_cast<std::int64_t>(info.grid.rows));
  f.write_attribute("/", "grid_cols", static_cast<std::int64_t>(info.grid.cols));
  f.write_attribute("/", "block_size", static_cast<std::int64_t>(info.block));
  f.write_attribute("/", "blas_library", info.blas_library);
  f.write_attribute("/", "blas_kernels", info.blas_kernels);
  f.write_attribute("/", "blas_threads", static_cast<std::int64_t>(info.blas_threads));
  f.write_attribute("/", "memory_estimate_bytes_per_rank", info.memory_estimate_bytes);
  f.ensure_group("/config");
  for (const auto& [name, value] : info.options) f.write_attribute("/config", name, value);
  f.flush();
}

void ResultsWriter::write_data(const data::TrainTest& data) {
  store::write_data_group(file_, data);
}

void ResultsWriter::write_layer(const rfm::LayerResult& layer,
                                const la::DistMatrix<double>* features) {
  h5::File& f = file_;
  const std::string g = "/layers/" + store::layer_group(layer.layer);
  f.ensure_group(g);
  const hsize_t d = static_cast<hsize_t>(layer.dim_in);
  f.write_replicated(g + "/agop", {d, d}, layer.agop.data());
  f.write_replicated(g + "/agop_eigenvalues", {d}, layer.agop_eigenvalues.data());
  f.write_attribute(g, "layer", static_cast<std::int64_t>(layer.layer + 1));
  f.write_attribute(g, "dim_in", static_cast<std::int64_t>(layer.dim_in));
  store::write_collapse_attributes(f, g, "input", layer.input);
  store::write_collapse_attributes(f, g, "projected", layer.projected);
  store::write_collapse_attributes(f, g, "mapped", layer.mapped);
  f.write_attribute(g, "residual", layer.residual);
  f.write_attribute(g, "rcond", layer.rcond);
  f.write_attribute(g, "ridge", layer.ridge);
  f.write_attribute(g, "peak_rss_bytes", layer.peak_rss_bytes);
  f.write_attribute(g, "wall_seconds", layer.wall_seconds);
  if (!layer.refinement_residuals.empty())
    f.write_replicated(g + "/refinement_residuals", {hsize_t(layer.refinement_residuals.size())},
                       layer.refinement_residuals.data());
  if (!layer.iteration_agops.empty()) {
    const auto t = static_cast<hsize_t>(layer.iteration_residuals.size());
    f.write_replicated(g + "/iteration_agops", {t, d, d}, layer.iteration_agops.data());
    f.write_replicated(g + "/iteration_residuals", {t}, layer.iteration_residuals.data());
    f.write_replicated(g + "/iteration_train_accuracy", {t}, layer.iteration_train_accuracy.data());
  }
  if (!layer.ridges_tried.empty())
    f.write_replicated(g + "/ridges_tried", {hsize_t(layer.ridges_tried.size())},
                       layer.ridges_tried.data());
  f.write_attribute(g, "train_accuracy", layer.train_accuracy);
  f.write_attribute(g, "test_accuracy", layer.test_accuracy);
  if (!std::isnan(layer.train_mse)) {
    f.write_attribute(g, "train_mse", layer.train_mse);
    f.write_attribute(g, "train_r2", layer.train_r2);
    f.write_attribute(g, "test_mse", layer.test_mse);
    f.write_attribute(g, "test_r2", layer.test_r2);
  }
  f.write_attribute(g, "clipped_eigenvalues", static_cast<std::int64_t>(layer.clipped_eigenvalues));
  f.write_attribute(g, "near_pairs", layer.kernel_stats.near_pairs);
  f.write_attribute(g, "near_pairs_unrecomputed", layer.kernel_stats.near_pairs_unrecomputed);
  f.write_attribute(g, "coincident_pairs", layer.kernel_stats.coincident_pairs);
  // Timings: phases x (seconds, flops, bytes, bytes_max_rank, off_node_bytes,
  // off_node_bytes_max_rank), with the phase and column names as attributes. layer.timers holds
  // this rank's bytes; the file gets their sum over ranks (the phase's communication volume,
  // like flops a whole-problem figure) and their maximum, for all bytes and for the off-node
  // part. The off-node columns come last so that readers indexing the first four still work.
  const auto& order = layer.timers.order();
  const std::vector<std::string> timing_columns = {
      "seconds", "flops", "bytes", "bytes_max_rank", "off_node_bytes", "off_node_bytes_max_rank"};
  const std::size_t phases = order.size();
  std::vector<double> sums(2 * phases);  // [bytes of every phase, then off-node bytes]
  for (std::size_t k = 0; k < phases; ++k) {
    sums[k] = layer.timers.at(order[k]).bytes;
    sums[phases + k] = layer.timers.at(order[k]).off_node_bytes;
  }
  std::vector<double> maxima(sums);
  f.comm().sum_in_place(sums.data(), sums.size());
  for (auto& b : maxima) b = f.comm().max(b);
  std::vector<double> timing;
  for (std::size_t k = 0; k < phases; ++k) {
    timing.push_back(layer.timers.at(order[k]).seconds);
    timing.push_back(layer.timers.at(order[k]).flops);
    timing.push_back(sums[k]);
    timing.push_back(maxima[k]);
    timing.push_back(sums[phases + k]);
    timing.push_back(maxima[phases + k]);
  }
  f.write_replicated(g + "/timings", {hsize_t(order.size()), hsize_t(timing_columns.size())},
                     timing.data());
  f.write_attribute(g + "/timings", "phases", order);
  f.write_attribute(g + "/timings", "columns", timing_columns);
  if (features != nullptr) f.write_distributed(g + "/features", *features);
  f.flush();
}

void ResultsWriter::write_summary(const std::vector<rfm::LayerResult>& layers) {
  std::vector<std::vector<double>> rows;
  for (const auto& l : layers) rows.push_back(metric_row(l));
  write_summary(rows);
}

void ResultsWriter::write_summary(const std::vector<std::vector<double>>& metric_rows) {
  // The regression columns are written only by a regression run (they are NaN in every row of a
  // classification run), so a classification table keeps the layout of earlier versions. Readers
  // and a resume take the columns by name.
  const auto& all = metric_columns();
  const bool regression = std::any_of(metric_rows.begin(), metric_rows.end(), [&](const auto& r) {
    return !std::isnan(r[column_index("train_mse")]);
  });
  std::vector<std::size_t> kept;
  for (std::size_t c = 0; c < all.size(); ++c)
    if (regression || !is_regression_column(all[c])) kept.push_back(c);
  std::vector<std::string> columns;
  for (auto c : kept) columns.push_back(all[c]);
  std::vector<std::vector<double>> rows;
  for (const auto& r : metric_rows) {
    std::vector<double> row;
    for (auto c : kept) row.push_back(r[c]);
    rows.push_back(std::move(row));
  }
  store::write_table(file_, "/metrics", columns, rows);
  file_.flush();
}

}  // namespace deeprfm::rfm
