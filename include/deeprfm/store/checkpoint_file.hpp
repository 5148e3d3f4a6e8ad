#pragma once
/// What every checkpoint file of deeprfm and deeprfm-mlp has in common (docs/checkpointing.md):
/// the root attribute `program` names the writer, /checkpoint carries `format_version`, and
/// the checkpoint's state files sit next to the results file as
/// `<results file name><infix>NNN<suffix>` (e.g. `run.h5.layer002.state.h5`). The program
/// stores (rfm::RunStore, mlp::CheckpointStore) keep their own progress attributes; the
/// identity check, the commit sequence and the clean-up of stale files are done here, once.
#include <functional>
#include <string>

#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::store {

/// Which program's checkpoint a file is, and in which layout version.
struct CheckpointFormat {
  std::string program;  ///< the root `program` attribute, e.g. "deeprfm"
  int version = 1;      ///< /checkpoint's `format_version`
};

/// Create /checkpoint (if missing) and write its `format_version`. Collective over the file's
/// communicator.
void write_checkpoint_format(h5::File& f, const CheckpointFormat& format);

/// Refuse, as an agreed input error, a file `f` (opened from `path`) that is not a checkpoint
/// of `format`: another program's file (the message names the program that wrote it), a file
/// without /checkpoint or /config, or another format version. Collective over `comm`.
void check_checkpoint_format(const h5::File& f, const std::string& path,
                             const CheckpointFormat& format, const mpi::Communicator& comm);

/// The naming of a checkpoint's state files next to the results file `results_path`.
struct StateFileNames {
  std::string infix;   ///< e.g. ".layer" or ".epoch"
  std::string suffix;  ///< e.g. ".state.h5"

  /// True if the file name `name` (no folder) is one of results_path's state files, or a
  /// temporary one (`... .tmp`). Local.
  bool matches(const std::string& results_path, const std::string& name) const;
};

/// Rank 0: remove `<results_path>.tmp` and every state file (and temporary state file) of
/// `results_path` in its folder except the one named `keep` (a file name without folder; empty
/// keeps none). Other files are never touched. Collective over `comm`; agreed failure.
void remove_stale_files(const std::string& results_path, const StateFileNames& names,
                        const std::string& keep, const mpi::Communicator& comm);

/// One checkpoint commit. The steps run in this order, which is what makes a crash at any
/// instant harmless (the results file names only complete state files):
///  1. `write_state(tmp)` writes the new state file under a temporary name, which is then
///     renamed to `state_path`: it is complete before anything names it;
///  2. `after_state()`, if set (a fault-injection point for the tests);
///  3. a copy of the results file is changed by `update_results(tmp)` (new rows, the new
///     /checkpoint attributes naming `state_path`) and renamed over it: the commit point;
///  4. `superseded_state` (a file name in the results file's folder, no folder part; empty for
///     none), which nothing names any more, is removed.
struct CheckpointCommit {
  std::string state_path;
  std::function<void(const std::string& tmp)> write_state;
  std::function<void()> after_state;
  std::function<void(const std::string& tmp)> update_results;
  std::string superseded_state;
};

/// Run `commit` for the results file `results_path`. Collective over `comm`; every step agrees
/// on failure, and a failure leaves the previous checkpoint intact.
void commit_checkpoint(const std::string& results_path, const CheckpointCommit& commit,
                       const mpi::Communicator& comm);

}  // namespace deeprfm::store
