#include <deeprfm/io/results_writer.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

#include <deeprfm/version.hpp>

namespace deeprfm::io {

namespace {
File::Mode mode_for(bool overwrite) {
  return overwrite ? File::Mode::create_truncate : File::Mode::create_exclusive;
}
}  // namespace

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void write_collapse_attributes(File& f, const std::string& group, const std::string& stage,
                               const metrics::CollapseMetrics& m) {
  f.write_attribute(group, "nc1_" + stage, m.nc1);
  f.write_attribute(group, "nc1_pinv_" + stage, m.nc1_pinv);
  f.write_attribute(group, "nc2_etf_" + stage, m.nc2_etf);
  f.write_attribute(group, "nc2_orth_" + stage, m.nc2_orth);
  f.write_attribute(group, "trace_within_" + stage, m.trace_within);
  f.write_attribute(group, "trace_between_" + stage, m.trace_between);
}

std::string layer_group(int layer) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "layer_%02d", layer + 1);
  return buf;
}

const std::vector<std::string>& metric_columns() {
  static const std::vector<std::string> columns = {
      "layer",           "nc1_input",      "nc1_projected",
      "nc1_mapped",      "nc1_pinv_input", "nc1_pinv_projected",
      "nc1_pinv_mapped", "nc2_etf_input",  "nc2_etf_projected",
      "nc2_etf_mapped",  "nc2_orth_input", "nc2_orth_projected",
      "nc2_orth_mapped", "train_accuracy", "test_accuracy",
      "residual",        "rcond",          "seconds"};
  return columns;
}

std::vector<double> metric_row(const rfm::LayerResult& l) {
  double seconds = 0;
  for (const auto& name : l.timers.order()) seconds += l.timers.at(name).seconds;
  return {double(l.layer + 1), l.input.nc1,      l.projected.nc1,
          l.mapped.nc1,        l.input.nc1_pinv, l.projected.nc1_pinv,
          l.mapped.nc1_pinv,   l.input.nc2_etf,  l.projected.nc2_etf,
          l.mapped.nc2_etf,    l.input.nc2_orth, l.projected.nc2_orth,
          l.mapped.nc2_orth,   l.train_accuracy, l.test_accuracy,
          l.residual,          l.rcond,          seconds};
}

ResultsWriter::ResultsWriter(const std::string& path, bool overwrite, const mpi::Communicator& comm)
    : file_(path, mode_for(overwrite), comm) {}

ResultsWriter::ResultsWriter(const std::string& path, File::Mode mode,
                             const mpi::Communicator& comm)
    : file_(path, mode, comm) {}

void ResultsWriter::write_run_info(const RunInfo& info) {
  File& f = file_;
  f.write_attribute("/", "program", std::string("deeprfm"));
  f.write_attribute("/", "version", std::string(kVersion));
  f.write_attribute("/", "git_revision", std::string(kGitRevision));
  f.write_attribute("/", "created", now_iso8601());
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

void write_data_group(File& f, const data::TrainTest& data) {
  f.ensure_group("/data");
  f.write_attribute("/data", "description", data.description);
  f.write_attribute("/data", "n_train", static_cast<std::int64_t>(data.train.n()));
  f.write_attribute("/data", "n_test", static_cast<std::int64_t>(data.test.n()));
  f.write_attribute("/data", "dim", static_cast<std::int64_t>(data.train.dim()));
  f.write_attribute("/data", "classes", static_cast<std::int64_t>(data.train.classes));
  f.write_replicated("/data/train_labels", {hsize_t(data.train.labels.size())},
                     data.train.labels.data());
  f.write_replicated("/data/train_source_index", {hsize_t(data.train.source_index.size())},
                     data.train.source_index.data());
  if (data.test.n() > 0) {
    f.write_replicated("/data/test_labels", {hsize_t(data.test.labels.size())},
                       data.test.labels.data());
    f.write_replicated("/data/test_source_index", {hsize_t(data.test.source_index.size())},
                       data.test.source_index.data());
  }
  f.write_replicated("/data/feature_mean", {hsize_t(data.feature_mean.size())},
                     data.feature_mean.data());
  f.write_replicated("/data/feature_std", {hsize_t(data.feature_std.size())},
                     data.feature_std.data());
  f.flush();
}

void ResultsWriter::write_data(const data::TrainTest& data) { write_data_group(file_, data); }

void ResultsWriter::write_layer(const rfm::LayerResult& layer,
                                const la::DistMatrix<double>* features) {
  File& f = file_;
  const std::string g = "/layers/" + layer_group(layer.layer);
  f.ensure_group(g);
  const hsize_t d = static_cast<hsize_t>(layer.dim_in);
  f.write_replicated(g + "/agop", {d, d}, layer.agop.data());
  f.write_replicated(g + "/agop_eigenvalues", {d}, layer.agop_eigenvalues.data());
  f.write_attribute(g, "layer", static_cast<std::int64_t>(layer.layer + 1));
  f.write_attribute(g, "dim_in", static_cast<std::int64_t>(layer.dim_in));
  write_collapse_attributes(f, g, "input", layer.input);
  write_collapse_attributes(f, g, "projected", layer.projected);
  write_collapse_attributes(f, g, "mapped", layer.mapped);
  f.write_attribute(g, "residual", layer.residual);
  f.write_attribute(g, "rcond", layer.rcond);
  f.write_attribute(g, "ridge", layer.ridge);
  f.write_attribute(g, "peak_rss_bytes", layer.peak_rss_bytes);
  f.write_attribute(g, "wall_seconds", layer.wall_seconds);
  if (!layer.refinement_residuals.empty())
    f.write_replicated(g + "/refinement_residuals", {hsize_t(layer.refinement_residuals.size())},
                       layer.refinement_residuals.data());
  if (!layer.ridges_tried.empty())
    f.write_replicated(g + "/ridges_tried", {hsize_t(layer.ridges_tried.size())},
                       layer.ridges_tried.data());
  f.write_attribute(g, "train_accuracy", layer.train_accuracy);
  f.write_attribute(g, "test_accuracy", layer.test_accuracy);
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
  File& f = file_;
  f.remove("/metrics");  // the table grows by a row per layer: rewrite it whole
  f.ensure_group("/metrics");
  const auto& columns = metric_columns();
  std::vector<double> table;
  for (const auto& row : metric_rows) table.insert(table.end(), row.begin(), row.end());
  const hsize_t rows = metric_rows.size(), cols = columns.size();
  f.write_replicated("/metrics/table", {rows, cols}, table.data());
  f.write_attribute("/metrics/table", "columns", columns);
  for (hsize_t c = 0; c < cols; ++c) {
    std::vector<double> column(rows);
    for (hsize_t r = 0; r < rows; ++r) column[r] = table[r * cols + c];
    f.write_replicated("/metrics/" + columns[c], {rows}, column.data());
  }
  f.flush();
}

}  // namespace deeprfm::io
