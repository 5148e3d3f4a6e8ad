#include <deeprfm/store/results_file.hpp>

#include <cstdio>
#include <ctime>

#include <deeprfm/base/error.hpp>
#include <deeprfm/version.hpp>

namespace deeprfm::store {

void write_program_attributes(h5::File& f, const std::string& program) {
  f.write_attribute("/", "program", program);
  f.write_attribute("/", "version", std::string(kVersion));
  f.write_attribute("/", "git_revision", std::string(kGitRevision));
  f.write_attribute("/", "created", now_iso8601());
}

void write_data_group(h5::File& f, const data::TrainTest& data) {
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
  // Regression: the real-valued targets (row-major n x k), and the task.
  f.write_attribute("/data", "task",
                    std::string(data.train.regression() ? "regression" : "classification"));
  if (data.train.regression()) {
    const auto k = static_cast<hsize_t>(data.train.target_columns);
    f.write_attribute("/data", "target_columns", static_cast<std::int64_t>(k));
    f.write_replicated("/data/train_targets", {hsize_t(data.train.n()), k},
                       data.train.targets.data());
    if (data.test.n() > 0)
      f.write_replicated("/data/test_targets", {hsize_t(data.test.n()), k},
                         data.test.targets.data());
  }
  f.write_replicated("/data/feature_mean", {hsize_t(data.feature_mean.size())},
                     data.feature_mean.data());
  f.write_replicated("/data/feature_std", {hsize_t(data.feature_std.size())},
                     data.feature_std.data());
  f.flush();
}

void write_collapse_attributes(h5::File& f, const std::string& group, const std::string& stage,
                               const model::CollapseMetrics& m) {
  f.write_attribute(group, "nc1_" + stage, m.nc1);
  f.write_attribute(group, "nc1_pinv_" + stage, m.nc1_pinv);
  f.write_attribute(group, "nc2_etf_" + stage, m.nc2_etf);
  f.write_attribute(group, "nc2_orth_" + stage, m.nc2_orth);
  f.write_attribute(group, "trace_within_" + stage, m.trace_within);
  f.write_attribute(group, "trace_between_" + stage, m.trace_between);
}

void write_table(h5::File& f, const std::string& group, const std::vector<std::string>& columns,
                 const std::vector<std::vector<double>>& rows) {
  const hsize_t cols = columns.size(), n = rows.size();
  std::vector<double> table;
  table.reserve(n * cols);
  for (const auto& row : rows) {
    DEEPRFM_CHECK(row.size() == cols, internal,
                  "a row of " + group + " has " + std::to_string(row.size()) + " values for " +
                      std::to_string(cols) + " columns");
    table.insert(table.end(), row.begin(), row.end());
  }
  f.remove(group);
  f.ensure_group(group);
  f.write_replicated(group + "/table", {n, cols}, table.data());
  f.write_attribute(group + "/table", "columns", columns);
  for (hsize_t c = 0; c < cols; ++c) {
    std::vector<double> column(n);
    for (hsize_t r = 0; r < n; ++r) column[r] = table[r * cols + c];
    f.write_replicated(group + "/" + columns[c], {n}, column.data());
  }
}

std::string layer_group(int layer) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "layer_%02d", layer + 1);
  return buf;
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace deeprfm::store
