#include <deeprfm/mlp/checkpoint.hpp>

#include <cstdio>
#include <filesystem>

#include <deeprfm/store/atomic_file.hpp>
#include <deeprfm/store/checkpoint_file.hpp>
#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/mlp/results_writer.hpp>

namespace deeprfm::mlp {

namespace fs = std::filesystem;

namespace {
constexpr const char* kCheckpoint = "/checkpoint";
const store::CheckpointFormat kFormat{kProgramName, 1};
const store::StateFileNames kStateFiles{".epoch", ".state.h5"};

std::vector<std::vector<double>> read_rows(const h5::File& f, const std::string& table) {
  std::vector<std::vector<double>> rows;
  if (!f.exists(table)) return rows;
  const auto dims = f.dims(table);
  if (dims.size() != 2 || dims[0] == 0) return rows;
  const auto values = f.read_all_double(table);
  for (hsize_t r = 0; r < dims[0]; ++r)
    rows.emplace_back(values.begin() + static_cast<std::ptrdiff_t>(r * dims[1]),
                      values.begin() + static_cast<std::ptrdiff_t>((r + 1) * dims[1]));
  return rows;
}
}  // namespace

CheckpointStore::CheckpointStore(std::string path, const mpi::Communicator& comm)
    : path_(std::move(path)), comm_(comm) {}

std::string CheckpointStore::state_path(int epoch) const {
  char suffix[48];
  std::snprintf(suffix, sizeof(suffix), "%s%04d%s", kStateFiles.infix.c_str(), epoch,
                kStateFiles.suffix.c_str());
  return path_ + suffix;
}

void CheckpointStore::remove_leftovers(const std::string& keep) const {
  store::remove_stale_files(path_, kStateFiles, keep, comm_);
}

void CheckpointStore::create(bool overwrite, const RunHeader& header, const data::TrainTest& data,
                             int epochs_planned) {
  h5::File::check_path(
      path_, overwrite ? h5::File::Mode::create_truncate : h5::File::Mode::create_exclusive, comm_);
  completed_epochs_ = 0;
  epochs_planned_ = epochs_planned;
  complete_ = false;
  wall_seconds_ = 0;
  state_file_.clear();
  store::write_file_atomically(
      path_,
      [&](const std::string& tmp) {
        ResultsWriter w(tmp, h5::File::Mode::create_truncate, comm_);
        w.write_run_info(header.command_line, header.options, header.ranks, header.blas_library,
                         header.blas_threads, header.parameters);
        w.write_data(data);
        h5::File& f = w.file();
        store::write_checkpoint_format(f, kFormat);
        f.write_attribute(kCheckpoint, "completed_epochs", static_cast<std::int64_t>(0));
        f.write_attribute(kCheckpoint, "next_epoch", static_cast<std::int64_t>(1));
        f.write_attribute(kCheckpoint, "epochs_planned", static_cast<std::int64_t>(epochs_planned));
        f.write_attribute(kCheckpoint, "complete", static_cast<std::int64_t>(0));
        f.write_attribute(kCheckpoint, "state_file", std::string());
        f.write_attribute(kCheckpoint, "wall_seconds", 0.0);
        f.write_attribute(kCheckpoint, "ranks", static_cast<std::int64_t>(comm_.size()));
        f.close();
      },
      comm_);
  options_ = header.options;
  metric_rows_.clear();
  epoch_rows_.clear();
  train_labels_.assign(data.train.labels.begin(), data.train.labels.end());
  input_dim_ = data.train.dim();
  remove_leftovers("");  // state files of a run this one overwrote
}

void CheckpointStore::open_existing() {
  {
    h5::File f(path_, h5::File::Mode::read_only, comm_);
    store::check_checkpoint_format(f, path_, kFormat, comm_);
    completed_epochs_ = static_cast<int>(f.read_attribute_int64(kCheckpoint, "completed_epochs"));
    epochs_planned_ = static_cast<int>(f.read_attribute_int64(kCheckpoint, "epochs_planned"));
    complete_ = f.read_attribute_int64(kCheckpoint, "complete") != 0;
    state_file_ = f.read_attribute_string(kCheckpoint, "state_file");
    wall_seconds_ = f.read_attribute_double(kCheckpoint, "wall_seconds");
    options_.clear();
    for (const auto& name : f.attribute_names("/config"))
      options_.emplace_back(name, f.read_attribute_string("/config", name));
    metric_rows_ = read_rows(f, "/metrics/table");
    epoch_rows_ = read_rows(f, "/epochs/table");
    train_labels_ = f.read_all_int64("/data/train_labels");
    input_dim_ = f.read_attribute_int64("/data", "dim");
    DEEPRFM_AGREE(comm_, static_cast<int>(epoch_rows_.size()) == completed_epochs_, input,
                  path_ << ": the checkpoint says " << completed_epochs_
                        << " complete epochs but the /epochs table has " << epoch_rows_.size()
                        << " rows");
  }
  // Leftovers of an interrupted commit: temporary files and unreferenced state files.
  remove_leftovers(state_file_);
  if (!state_file_.empty()) {
    const std::string state = (fs::path(store::folder_of(path_)) / state_file_).string();
    mpi::run_agreed(comm_, [&] {
      if (comm_.rank() != 0) return;
      DEEPRFM_CHECK(
          fs::exists(state), input,
          "the checkpoint's state file " << state << " is missing; it must stay next to " << path_);
    });
  }
}

void CheckpointStore::commit(const TrainingState& state,
                             const std::vector<Measurement>& new_measurements,
                             const std::vector<std::vector<double>>& metric_rows,
                             const std::vector<std::vector<double>>& epoch_rows, int epochs_planned,
                             const Network* weights, double wall_seconds, bool complete) {
  DEEPRFM_ASSERT(static_cast<int>(epoch_rows.size()) == state.epoch);
  store::CheckpointCommit commit;
  commit.state_path = state_path(state.epoch);
  const std::string state_name = fs::path(commit.state_path).filename().string();
  commit.write_state = [&](const std::string& tmp) {
    h5::File f(tmp, h5::File::Mode::create_truncate, comm_);
    f.write_replicated("/parameters", {hsize_t(state.parameters.size())}, state.parameters.data());
    f.write_replicated("/first_moment", {hsize_t(state.first_moment.size())},
                       state.first_moment.data());
    if (!state.second_moment.empty())
      f.write_replicated("/second_moment", {hsize_t(state.second_moment.size())},
                         state.second_moment.data());
    f.write_attribute("/", "epoch", static_cast<std::int64_t>(state.epoch));
    f.write_attribute("/", "steps", static_cast<std::int64_t>(state.steps));
    f.write_attribute("/", "next_epoch", static_cast<std::int64_t>(state.epoch + 1));
    f.close();
  };
  // Everything new, and the /checkpoint attributes naming the new state file.
  commit.update_results = [&](const std::string& tmp) {
    ResultsWriter w(tmp, h5::File::Mode::read_write, comm_);
    for (const auto& m : new_measurements) w.write_measurement(m, true);
    w.write_epoch_rows(epoch_rows);
    w.write_metric_rows(metric_rows);
    if (weights != nullptr) w.write_weights(*weights);
    h5::File& f = w.file();
    f.write_attribute(kCheckpoint, "completed_epochs", static_cast<std::int64_t>(state.epoch));
    f.write_attribute(kCheckpoint, "next_epoch", static_cast<std::int64_t>(state.epoch + 1));
    f.write_attribute(kCheckpoint, "epochs_planned", static_cast<std::int64_t>(epochs_planned));
    f.write_attribute(kCheckpoint, "complete", static_cast<std::int64_t>(complete ? 1 : 0));
    f.write_attribute(kCheckpoint, "state_file", state_name);
    f.write_attribute(kCheckpoint, "wall_seconds", wall_seconds);
    f.write_attribute(kCheckpoint, "ranks", static_cast<std::int64_t>(comm_.size()));
    if (complete) {
      f.write_attribute("/", "wall_seconds", wall_seconds);
      f.write_attribute("/", "completed", static_cast<std::int64_t>(1));
    }
    f.close();
  };
  commit.superseded_state = state_file_;
  store::commit_checkpoint(path_, commit, comm_);
  completed_epochs_ = state.epoch;
  epochs_planned_ = epochs_planned;
  complete_ = complete;
  wall_seconds_ = wall_seconds;
  state_file_ = state_name;
  metric_rows_ = metric_rows;
  epoch_rows_ = epoch_rows;
}

TrainingState CheckpointStore::load_state() const {
  DEEPRFM_ASSERT(has_state());
  const std::string path = (fs::path(store::folder_of(path_)) / state_file_).string();
  h5::File f(path, h5::File::Mode::read_only, comm_);
  TrainingState s;
  s.epoch = static_cast<int>(f.read_attribute_int64("/", "epoch"));
  s.steps = static_cast<long>(f.read_attribute_int64("/", "steps"));
  s.parameters = f.read_all_double("/parameters");
  s.first_moment = f.read_all_double("/first_moment");
  if (f.exists("/second_moment")) s.second_moment = f.read_all_double("/second_moment");
  DEEPRFM_AGREE(comm_, s.epoch == completed_epochs_, input,
                path << " holds the state after epoch " << s.epoch << " but " << path_ << " says "
                     << completed_epochs_);
  return s;
}

}  // namespace deeprfm::mlp
