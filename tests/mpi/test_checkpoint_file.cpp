// The checkpoint identity and clean-up that deeprfm and deeprfm-mlp share
// (include/deeprfm/store/checkpoint_file.hpp, docs/checkpointing.md): a file is continued only
// by the program and format version that wrote it, refused otherwise as an agreed input error
// that names the writer (so `deeprfm --resume <a deeprfm-mlp file>` exits 2 saying so, and the
// other way round); stale state files of one run are removed and nothing else is; the commit
// writes the state file before the results file names it, and a failed commit keeps the
// previous checkpoint.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <deeprfm/base/error.hpp>
#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/mlp/checkpoint.hpp>
#include <deeprfm/mpi/communicator.hpp>
#include <deeprfm/rfm/run_store.hpp>
#include <deeprfm/store/checkpoint_file.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;
namespace fs = std::filesystem;

namespace {

/// A minimal checkpoint file: root `program` (unless empty), /config, /checkpoint with
/// `format_version` (unless version < 0). Collective.
void write_minimal(const std::string& path, const std::string& program, int version,
                   const mpi::Communicator& comm) {
  h5::File f(path, h5::File::Mode::create_truncate, comm);
  if (!program.empty()) f.write_attribute("/", "program", program);
  f.ensure_group("/config");
  if (version >= 0) store::write_checkpoint_format(f, {"ignored", version});
  f.close();
}

/// The message of the agreed input error `body` throws; "no error" or "wrong kind" otherwise.
template <class Body>
std::string agreed_input_error(Body&& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.agreed() && e.kind() == ErrorKind::input ? e.what() : "wrong kind";
  }
  return "no error";
}

std::string checked(const std::string& path, const store::CheckpointFormat& format,
                    const mpi::Communicator& comm) {
  return agreed_input_error([&] {
    h5::File f(path, h5::File::Mode::read_only, comm);
    store::check_checkpoint_format(f, path, format, comm);
  });
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_checkpoint_is_continued_only_by_its_program_and_format_version) {
  auto world = mpi::Communicator::world();
  const fs::path dir = test::shared_temp_dir("ckpt-format");
  const std::string own = (dir / "own.h5").string();
  write_minimal(own, "deeprfm", 1, world);
  DEEPRFM_CHECK_ALL(checked(own, {"deeprfm", 1}, world) == "no error");

  const std::string other = checked(own, {"deeprfm-mlp", 1}, world);
  DEEPRFM_CHECK_ALL(test::contains(other, "written by 'deeprfm', not by deeprfm-mlp"));

  const std::string anonymous_path = (dir / "anonymous.h5").string();
  write_minimal(anonymous_path, "", 1, world);
  DEEPRFM_CHECK_ALL(
      test::contains(checked(anonymous_path, {"deeprfm", 1}, world), "no 'program' attribute"));

  const std::string bare_path = (dir / "bare.h5").string();
  write_minimal(bare_path, "deeprfm", -1, world);
  DEEPRFM_CHECK_ALL(
      test::contains(checked(bare_path, {"deeprfm", 1}, world), "has no /checkpoint"));

  const std::string newer_path = (dir / "newer.h5").string();
  write_minimal(newer_path, "deeprfm", 2, world);
  DEEPRFM_CHECK_ALL(test::contains(checked(newer_path, {"deeprfm", 1}, world),
                                   "checkpoint format version 2; this deeprfm reads version 1"));
  world.barrier();
  if (world.rank() == 0) fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(each_program_refuses_the_others_file_naming_the_writer) {
  auto world = mpi::Communicator::world();
  const fs::path dir = test::shared_temp_dir("ckpt-other");
  const std::string mlp_file = (dir / "mlp-results.h5").string();
  const std::string rfm_file = (dir / "rfm-results.h5").string();
  write_minimal(mlp_file, "deeprfm-mlp", 1, world);
  write_minimal(rfm_file, "deeprfm", 1, world);
  // What `deeprfm --resume mlp-results.h5` does first (exit 2 with this message).
  const std::string by_rfm = agreed_input_error([&] {
    rfm::RunStore s(mlp_file, world);
    s.open_existing();
  });
  DEEPRFM_CHECK_ALL(test::contains(by_rfm, "written by 'deeprfm-mlp', not by deeprfm"));
  const std::string by_mlp = agreed_input_error([&] {
    mlp::CheckpointStore s(rfm_file, world);
    s.open_existing();
  });
  DEEPRFM_CHECK_ALL(test::contains(by_mlp, "written by 'deeprfm', not by deeprfm-mlp"));
  world.barrier();
  if (world.rank() == 0) fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(stale_state_files_of_one_run_are_removed_and_nothing_else) {
  auto world = mpi::Communicator::world();
  const fs::path dir = test::shared_temp_dir("ckpt-stale");
  const std::set<std::string> stale = {"run.h5.tmp", "run.h5.layer001.state.h5",
                                       "run.h5.layer003.state.h5.tmp", "run.h5.layer4096.state.h5"};
  const std::set<std::string> kept = {"run.h5",
                                      "run.h5.layer002.state.h5",
                                      "run.h5.layer001.notes",
                                      "other.h5.layer001.state.h5",
                                      "run.h5.epoch0001.state.h5",
                                      "xrun.h5.layer001.state.h5"};
  if (world.rank() == 0) {
    for (const auto& name : stale) std::ofstream(dir / name) << "x";
    for (const auto& name : kept) std::ofstream(dir / name) << "x";
  }
  world.barrier();
  store::remove_stale_files((dir / "run.h5").string(), {".layer", ".state.h5"},
                            "run.h5.layer002.state.h5", world);
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.insert(e.path().filename().string());
  DEEPRFM_CHECK_ALL(left == kept);
  world.barrier();
  if (world.rank() == 0) fs::remove_all(dir);
}

namespace {
std::string named_state(const fs::path& results, const mpi::Communicator& comm) {
  h5::File f(results.string(), h5::File::Mode::read_only, comm);
  return f.read_attribute_string("/checkpoint", "state_file");
}

void write_named_state(const std::string& path, const std::string& state,
                       const mpi::Communicator& comm) {
  h5::File f(path, h5::File::Mode::read_write, comm);
  f.write_attribute("/checkpoint", "state_file", state);
  f.close();
}

void write_state_file(const std::string& path, int epoch, const mpi::Communicator& comm) {
  h5::File f(path, h5::File::Mode::create_truncate, comm);
  f.write_attribute("/", "epoch", static_cast<std::int64_t>(epoch));
  f.close();
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_commit_names_only_complete_state_files_and_a_failed_one_keeps_the_last) {
  auto world = mpi::Communicator::world();
  const fs::path dir = test::shared_temp_dir("ckpt-commit");
  const fs::path results = dir / "run.h5";
  write_minimal(results.string(), "deeprfm", 1, world);
  write_named_state(results.string(), "run.h5.epoch0001.state.h5", world);
  write_state_file((dir / "run.h5.epoch0001.state.h5").string(), 1, world);

  // A successful commit: the new state file is complete (and renamed) before the results file
  // names it, and the superseded one is removed after the commit point.
  store::CheckpointCommit commit;
  commit.state_path = (dir / "run.h5.epoch0002.state.h5").string();
  commit.write_state = [&](const std::string& tmp) {
    DEEPRFM_CHECK_ALL(tmp == commit.state_path + ".tmp");
    write_state_file(tmp, 2, world);
  };
  bool after_state_ran = false;
  commit.after_state = [&] {
    after_state_ran = true;
    DEEPRFM_CHECK_ALL(fs::exists(commit.state_path) && !fs::exists(commit.state_path + ".tmp"));
    DEEPRFM_CHECK_ALL(named_state(results, world) == "run.h5.epoch0001.state.h5");
  };
  commit.update_results = [&](const std::string& tmp) {
    DEEPRFM_CHECK_ALL(tmp == results.string() + ".tmp");
    write_named_state(tmp, "run.h5.epoch0002.state.h5", world);
    DEEPRFM_CHECK_ALL(named_state(results, world) == "run.h5.epoch0001.state.h5");
  };
  commit.superseded_state = "run.h5.epoch0001.state.h5";
  store::commit_checkpoint(results.string(), commit, world);
  DEEPRFM_CHECK_ALL(after_state_ran);
  DEEPRFM_CHECK_ALL(named_state(results, world) == "run.h5.epoch0002.state.h5");
  DEEPRFM_CHECK_ALL(!fs::exists(dir / "run.h5.epoch0001.state.h5"));
  DEEPRFM_CHECK_ALL(!fs::exists(results.string() + ".tmp"));

  // A commit that fails while the results copy is changed (say the disk filled): the error is
  // agreed, the results file still names the previous state file and that file is kept.
  store::CheckpointCommit failing;
  failing.state_path = (dir / "run.h5.epoch0003.state.h5").string();
  failing.write_state = [&](const std::string& tmp) { write_state_file(tmp, 3, world); };
  failing.update_results = [&](const std::string& tmp) {
    write_named_state(tmp, "run.h5.epoch0003.state.h5", world);
    DEEPRFM_AGREE(world, world.rank() != world.size() - 1, resource, "no space left on device");
  };
  failing.superseded_state = "run.h5.epoch0002.state.h5";
  bool agreed_failure = false;
  try {
    store::commit_checkpoint(results.string(), failing, world);
  } catch (const Error& e) {
    agreed_failure = e.agreed() && e.kind() == ErrorKind::resource;
  }
  DEEPRFM_CHECK_ALL(agreed_failure);
  DEEPRFM_CHECK_ALL(named_state(results, world) == "run.h5.epoch0002.state.h5");
  DEEPRFM_CHECK_ALL(fs::exists(dir / "run.h5.epoch0002.state.h5"));

  // The next start's clean-up removes what the failed commit left (its state file, the copy).
  store::remove_stale_files(results.string(), {".epoch", ".state.h5"}, "run.h5.epoch0002.state.h5",
                            world);
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.insert(e.path().filename().string());
  DEEPRFM_CHECK_ALL((left == std::set<std::string>{"run.h5", "run.h5.epoch0002.state.h5"}));
  world.barrier();
  if (world.rank() == 0) fs::remove_all(dir);
}
