#include <deeprfm/store/checkpoint_file.hpp>

#include <filesystem>

#include <deeprfm/store/atomic_file.hpp>

namespace deeprfm::store {

namespace fs = std::filesystem;

namespace {
constexpr const char* kCheckpoint = "/checkpoint";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

void write_checkpoint_format(h5::File& f, const CheckpointFormat& format) {
  f.ensure_group(kCheckpoint);
  f.write_attribute(kCheckpoint, "format_version", static_cast<std::int64_t>(format.version));
}

void check_checkpoint_format(const h5::File& f, const std::string& path,
                             const CheckpointFormat& format, const mpi::Communicator& comm) {
  const std::string program =
      f.has_attribute("/", "program") ? f.read_attribute_string("/", "program") : "";
  DEEPRFM_AGREE(comm, program == format.program, input,
                path << " was written by "
                     << (program.empty() ? std::string("no deeprfm program (no 'program' "
                                                       "attribute)")
                                         : "'" + program + "'")
                     << ", not by " << format.program << ": it is not a checkpoint "
                     << format.program << " can continue");
  DEEPRFM_AGREE(comm, f.exists(kCheckpoint) && f.exists("/config"), input,
                path << " has no /checkpoint or /config group (written without checkpoints?): "
                        "it cannot be continued");
  const bool has_version = f.has_attribute(kCheckpoint, "format_version");
  DEEPRFM_AGREE(comm, has_version, input,
                path << ": /checkpoint has no format_version; it cannot be continued");
  const std::int64_t version = f.read_attribute_int64(kCheckpoint, "format_version");
  DEEPRFM_AGREE(comm, version == format.version, input,
                path << ": checkpoint format version " << version << "; this " << format.program
                     << " reads version " << format.version);
}

bool StateFileNames::matches(const std::string& results_path, const std::string& name) const {
  const std::string prefix = fs::path(results_path).filename().string() + infix;
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return false;
  return ends_with(name, suffix) || ends_with(name, suffix + ".tmp");
}

void remove_stale_files(const std::string& results_path, const StateFileNames& names,
                        const std::string& keep, const mpi::Communicator& comm) {
  mpi::run_agreed(comm, [&] {
    if (comm.rank() != 0) return;
    std::error_code ec;
    fs::remove(results_path + ".tmp", ec);
    for (const auto& entry : fs::directory_iterator(folder_of(results_path), ec)) {
      const std::string name = entry.path().filename().string();
      if (name == keep || !names.matches(results_path, name)) continue;
      std::error_code rm;
      fs::remove(entry.path(), rm);
    }
  });
}

void commit_checkpoint(const std::string& results_path, const CheckpointCommit& commit,
                       const mpi::Communicator& comm) {
  DEEPRFM_ASSERT(commit.write_state && commit.update_results);
  write_file_atomically(commit.state_path, commit.write_state, comm);
  if (commit.after_state) commit.after_state();
  update_file_atomically(results_path, commit.update_results, comm);
  if (commit.superseded_state.empty() ||
      commit.superseded_state == fs::path(commit.state_path).filename().string())
    return;
  mpi::run_agreed(comm, [&] {
    if (comm.rank() != 0) return;
    std::error_code ec;  // best effort: a leftover is removed by the next start's clean-up
    fs::remove(fs::path(folder_of(results_path)) / commit.superseded_state, ec);
  });
}

}  // namespace deeprfm::store
