#include <deeprfm/rfm/run_store.hpp>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <filesystem>

#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/store/atomic_file.hpp>
#include <deeprfm/store/checkpoint_file.hpp>
#include <deeprfm/store/results_file.hpp>
#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::rfm {

namespace fs = std::filesystem;

namespace {
constexpr const char* kCheckpoint = "/checkpoint";
const store::CheckpointFormat kFormat{kProgramName, 1};
const store::StateFileNames kStateFiles{".layer", ".state.h5"};

}  // namespace

RunStore::RunStore(std::string path, const mpi::Communicator& comm)
    : path_(std::move(path)), comm_(comm) {}

std::string RunStore::companion_path(int completed) const {
  char number[16];
  std::snprintf(number, sizeof(number), "%03d", completed);
  return path_ + kStateFiles.infix + number + kStateFiles.suffix;
}

std::string RunStore::companion_name(int completed) const {
  return completed > 0 ? fs::path(companion_path(completed)).filename().string() : "";
}

void RunStore::write_checkpoint_attributes(h5::File& f, int layers_planned) const {
  store::write_checkpoint_format(f, kFormat);
  f.write_attribute(kCheckpoint, "completed_layers", static_cast<std::int64_t>(completed_layers_));
  f.write_attribute(kCheckpoint, "next_layer", static_cast<std::int64_t>(completed_layers_ + 1));
  f.write_attribute(kCheckpoint, "layers_planned", static_cast<std::int64_t>(layers_planned));
  f.write_attribute(kCheckpoint, "complete", static_cast<std::int64_t>(complete_ ? 1 : 0));
  // W_l is a function of (seed, layer) only: the generator position is the next layer index.
  f.write_attribute(kCheckpoint, "rng_next_layer", static_cast<std::int64_t>(completed_layers_));
  f.write_attribute(kCheckpoint, "state_file", companion_name(completed_layers_));
}

void RunStore::create(bool overwrite, const RunInfo& info, const data::TrainTest& data,
                      int layers_planned, const ModelInfo* model) {
  h5::File::check_path(
      path_, overwrite ? h5::File::Mode::create_truncate : h5::File::Mode::create_exclusive, comm_);
  store::write_file_atomically(
      path_,
      [&](const std::string& tmp) {
        ResultsWriter w(tmp, h5::File::Mode::create_truncate, comm_);
        w.write_run_info(info);
        w.write_data(data);
        if (model != nullptr) write_model_info(w.file(), *model);
        completed_layers_ = 0;
        complete_ = false;
        layers_planned_ = layers_planned;
        write_checkpoint_attributes(w.file(), layers_planned);
        w.file().close();
      },
      comm_);
  options_ = info.options;
  metric_rows_.clear();
  layer_dims_.clear();
  layer_ranks_.clear();
  layer_wall_.clear();
  // A previous run's companion files (an overwritten run's) are stale now.
  store::remove_stale_files(path_, kStateFiles, "", comm_);
}

void RunStore::open_existing() {
  {
    h5::File f(path_, h5::File::Mode::read_only, comm_);
    store::check_checkpoint_format(f, path_, kFormat, comm_);
    completed_layers_ = static_cast<int>(f.read_attribute_int64(kCheckpoint, "completed_layers"));
    layers_planned_ = static_cast<int>(f.read_attribute_int64(kCheckpoint, "layers_planned"));
    complete_ = f.read_attribute_int64(kCheckpoint, "complete") != 0;
    options_.clear();
    for (const auto& name : f.attribute_names("/config"))
      options_.emplace_back(name, f.read_attribute_string("/config", name));
    metric_rows_.clear();
    if (f.exists("/metrics/table")) {
      const auto dims = f.dims("/metrics/table");
      const auto table = f.read_all_double("/metrics/table");
      // Columns by name: a file written before a column existed (e.g. the regression metrics)
      // gets NaN in it, so its rows and this version's have one layout.
      const auto stored = f.read_attribute_strings("/metrics/table", "columns");
      const auto& columns = metric_columns();
      DEEPRFM_AGREE(
          comm_, stored.size() == dims[1], input,
          path_ << ": /metrics/table has " << dims[1] << " columns but names " << stored.size());
      for (hsize_t r = 0; r < dims[0]; ++r) {
        std::vector<double> row(columns.size(), std::numeric_limits<double>::quiet_NaN());
        for (std::size_t c = 0; c < stored.size(); ++c) {
          const auto it = std::find(columns.begin(), columns.end(), stored[c]);
          if (it != columns.end())
            row[static_cast<std::size_t>(it - columns.begin())] = table[r * dims[1] + c];
        }
        metric_rows_.push_back(std::move(row));
      }
    }
    DEEPRFM_AGREE(comm_, static_cast<int>(metric_rows_.size()) == completed_layers_, input,
                  path_ << ": the checkpoint says " << completed_layers_ << " complete layers but "
                        << "the metrics table has " << metric_rows_.size() << " rows");
    layer_dims_.clear();
    layer_ranks_.clear();
    layer_wall_.clear();
    for (int l = 0; l < completed_layers_; ++l) {
      const std::string g = "/layers/" + store::layer_group(l);
      const bool has = f.exists(g);
      layer_dims_.push_back(has ? static_cast<int>(f.read_attribute_int64(g, "dim_in")) : 0);
      layer_ranks_.push_back(has ? static_cast<int>(f.read_attribute_int64(g, "ranks")) : 0);
      layer_wall_.push_back(has && f.has_attribute(g, "wall_seconds")
                                ? f.read_attribute_double(g, "wall_seconds")
                                : 0.0);
    }
  }
  // Leftovers of an interrupted commit: temporary files and companions of other layers.
  store::remove_stale_files(path_, kStateFiles, companion_name(completed_layers_), comm_);
  mpi::run_agreed(comm_, [&] {
    if (comm_.rank() != 0) return;
    if (completed_layers_ > 0)
      DEEPRFM_CHECK(fs::exists(companion_path(completed_layers_)), input,
                    "the checkpoint's state file " << companion_path(completed_layers_)
                                                   << " is missing; it must stay next to "
                                                   << path_);
  });
}

void RunStore::commit_layer(const rfm::LayerResult& layer, const la::DistMatrix<double>& x,
                            const la::DistMatrix<double>& x_test, bool save_features,
                            int layers_planned, const LayerModel* model) {
  const int completed = layer.layer + 1;
  DEEPRFM_ASSERT(completed == completed_layers_ + 1);
  set_run_context(layer.layer, "checkpoint");
  auto rows = metric_rows_;
  rows.push_back(metric_row(layer));
  store::CheckpointCommit commit;
  commit.state_path = companion_path(completed);
  // The next layer's input features, in their own file.
  commit.write_state = [&](const std::string& tmp) {
    h5::File f(tmp, h5::File::Mode::create_truncate, comm_);
    mpi::run_agreed(comm_, [&] { inject_fault_point(layer.layer, "checkpoint", comm_.rank()); });
    f.write_distributed("/train", x);
    if (x_test.rows() > 0) f.write_distributed("/test", x_test);
    f.write_attribute("/", "completed_layers", static_cast<std::int64_t>(completed));
    f.close();
  };
  commit.after_state = [&] {
    mpi::run_agreed(comm_, [&] { inject_fault_point(layer.layer, "commit", comm_.rank()); });
  };
  // The results file with the new layer appended, naming the new state file.
  commit.update_results = [&](const std::string& tmp) {
    ResultsWriter w(tmp, h5::File::Mode::read_write, comm_);
    w.write_layer(layer, save_features ? &x : nullptr);
    if (model != nullptr) write_model_layer(w.file(), *model);
    const std::string g = "/layers/" + store::layer_group(layer.layer);
    w.file().write_attribute(g, "ranks", static_cast<std::int64_t>(comm_.size()));
    w.file().write_attribute(g, "pblas_block",
                             static_cast<std::int64_t>(la::pblas_logical_block()));
    w.write_summary(rows);
    completed_layers_ = completed;
    complete_ = false;
    layers_planned_ = layers_planned;
    write_checkpoint_attributes(w.file(), layers_planned);
    w.file().close();
  };
  commit.superseded_state = companion_name(completed - 1);
  try {
    store::commit_checkpoint(path_, commit, comm_);
  } catch (...) {
    completed_layers_ = completed - 1;  // the previous checkpoint is still the file's
    throw;
  }
  metric_rows_ = std::move(rows);
  layer_dims_.push_back(layer.dim_in);
  layer_ranks_.push_back(comm_.size());
  layer_wall_.push_back(layer.wall_seconds);
  set_run_context(layer.layer, "");
}

void RunStore::mark_complete(int layers_planned) {
  store::update_file_atomically(
      path_,
      [&](const std::string& tmp) {
        h5::File f(tmp, h5::File::Mode::read_write, comm_);
        complete_ = true;
        layers_planned_ = layers_planned;
        write_checkpoint_attributes(f, layers_planned);
        f.close();
      },
      comm_);
}

data::TrainTest RunStore::load_state(const la::ProcessGrid& grid, int block) const {
  DEEPRFM_ASSERT(completed_layers_ >= 1);
  data::TrainTest out;
  {
    h5::File f(path_, h5::File::Mode::read_only, comm_);
    const auto train_labels = f.read_all_int64("/data/train_labels");
    out.train.labels.assign(train_labels.begin(), train_labels.end());
    out.train.classes = static_cast<int>(f.read_attribute_int64("/data", "classes"));
    out.test.classes = out.train.classes;
    if (f.exists("/data/test_labels")) {
      const auto test_labels = f.read_all_int64("/data/test_labels");
      out.test.labels.assign(test_labels.begin(), test_labels.end());
    }
    out.description = f.read_attribute_string("/data", "description");
    const auto si = f.read_all_int64("/data/train_source_index");
    out.train.source_index.assign(si.begin(), si.end());
    if (f.exists("/data/train_targets")) {
      out.train.target_columns = out.test.target_columns =
          static_cast<int>(f.read_attribute_int64("/data", "target_columns"));
      out.train.targets = f.read_all_double("/data/train_targets");
      if (f.exists("/data/test_targets"))
        out.test.targets = f.read_all_double("/data/test_targets");
    }
    out.feature_mean = f.read_all_double("/data/feature_mean");
    out.feature_std = f.read_all_double("/data/feature_std");
  }
  h5::File s(companion_path(completed_layers_), h5::File::Mode::read_only, comm_);
  const auto dims = s.dims("/train");
  out.train.x =
      la::DistMatrix<double>(grid, static_cast<int>(dims[0]), static_cast<int>(dims[1]), block);
  s.read_distributed("/train", out.train.x);
  if (s.exists("/test")) {
    const auto tdims = s.dims("/test");
    out.test.x =
        la::DistMatrix<double>(grid, static_cast<int>(tdims[0]), static_cast<int>(tdims[1]), block);
    s.read_distributed("/test", out.test.x);
  } else {
    out.test.x = la::DistMatrix<double>(grid, 0, static_cast<int>(dims[1]), block);
  }
  DEEPRFM_AGREE(comm_, out.train.x.rows() == static_cast<int>(out.train.labels.size()), input,
                "the state file's training features do not match the stored labels");
  return out;
}

}  // namespace deeprfm::rfm
