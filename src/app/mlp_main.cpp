// deeprfm-mlp: the paper's neural-network experiment (Section 4 of the paper, docs/mlp.md).
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include <deeprfm/base/error.hpp>
#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/runtime/peer_watch.hpp>
#include <deeprfm/store/run_lock.hpp>
#include <deeprfm/la/blas_info.hpp>
#include <deeprfm/mlp/checkpoint.hpp>
#include <deeprfm/mlp/results_writer.hpp>
#include <deeprfm/mlp/run.hpp>
#include <deeprfm/mpi/environment.hpp>
#include <deeprfm/version.hpp>

#include "guarded_main.hpp"
#include "option_text.hpp"
#include "mlp_cli.hpp"

namespace {

using namespace deeprfm;

int run(const app::MlpRunOptions& opt, const TimeLimits& limits, const mpi::Communicator& world,
        mlp::CheckpointStore* existing) {
  la::set_blas_threads(opt.blas_threads);
  const la::BlasInfo blas = la::blas_info();
  if (world.rank() == 0 && !opt.quiet) {
    std::printf(
        "deeprfm-mlp %s (%s): %d MPI ranks (data-parallel), %s kernels '%s', %d BLAS "
        "thread(s) per rank\n",
        kVersion, kGitRevision, world.size(), blas.library.c_str(), blas.kernels.c_str(),
        blas.threads);
    if (!blas.advice.empty()) std::printf("note: %s\n", blas.advice.c_str());
    std::fflush(stdout);
  }
  mlp::RunSettings settings = app::run_settings(opt);
  settings.limits = limits;
  mlp::run_mlp(settings, world, existing);
  return 0;
}

}  // namespace

namespace {
/// Runs before the constructors of the shared libraries (Open MPI, HDF5, OpenBLAS: tens of ms
/// after exec) and before main: from then on a stop signal is recorded, not fatal. Only
/// sigaction and constant-initialised atomics are used, so nothing needs constructing yet.
void install_stop_handlers_at_load(int, char**, char**) { deeprfm::install_stop_handlers(); }
__attribute__((section(".preinit_array"),
               used)) void (*const preinit_stop_handlers)(int, char**,
                                                          char**) = install_stop_handlers_at_load;
}  // namespace

int main(int argc, char** argv) {
  // First thing: a stop signal during start-up (MPI_Init, loading) is recorded, not fatal.
  deeprfm::install_stop_handlers();
  deeprfm::mpi::Environment env(&argc, &argv);
  deeprfm::ensure_stop_handlers();  // in case MPI_Init replaced them (Open MPI 4.1 does not)
  auto world = deeprfm::mpi::Communicator::world();
  deeprfm::app::MainContext context;
  context.program = deeprfm::mlp::kProgramName;
  context.out_of_memory_advice = "use more ranks, a smaller --n or a smaller --batch-size";
  context.flag_for = deeprfm::app::mlp_flag_for_subject;
  return deeprfm::app::guarded_main(world, context, [&] {
    std::optional<deeprfm::mlp::CheckpointStore> existing;
    // One writer per results file, from before anything reads or cleans it until the end.
    std::optional<deeprfm::store::RunLock> lock;
    const std::string resume = deeprfm::app::resume_path(argc, argv);
    if (!resume.empty()) {
      lock.emplace(resume, world);
      existing.emplace(resume, world);
      existing->open_existing();
    }
    deeprfm::app::MlpParseResult parsed;
    // Parsing does no communication and gives the same answer on every rank.
    deeprfm::mpi::run_agreed(world, [&] {
      parsed = deeprfm::app::parse_mlp_command_line(argc, argv,
                                                    existing ? &existing->options() : nullptr);
    });
    if (!parsed.run) {
      if (world.rank() == 0) std::cout << parsed.text;
      return parsed.exit_code;
    }
    context.output = parsed.options.output;
    if (!lock) lock.emplace(parsed.options.output, world);
    // Every rank uses rank 0's deadline, margin and grace.
    const deeprfm::TimeLimits limits = deeprfm::agree_time_limits(parsed.options.limits, world);
    deeprfm::WatchdogText text;
    text.program = deeprfm::mlp::kProgramName;
    text.unit = "epoch";
    text.output = parsed.options.output;
    text.resume_flag = "--resume";
    text.stop_grace_flag = "--stop-grace";
    deeprfm::Watchdog watchdog(limits, text, world.rank());
    // A rank that dies or stops beating ends every other rank (docs/checkpointing.md).
    const deeprfm::PeerWatch peers(parsed.options.output, limits.peer_timeout, text, world);
    watchdog.arm_deadline();
    return run(parsed.options, limits, world, existing ? &*existing : nullptr);
  });
}
