// deeprfm: distributed Deep Recursive Feature Machines. See README.md and docs/.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <optional>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <deeprfm/base/error.hpp>
#include <deeprfm/mpi/environment.hpp>
#include <deeprfm/rfm/predict.hpp>
#include <deeprfm/rfm/results_writer.hpp>
#include <deeprfm/rfm/run.hpp>
#include <deeprfm/rfm/run_store.hpp>
#include <deeprfm/rfm/saved_model.hpp>
#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/runtime/peer_watch.hpp>
#include <deeprfm/store/run_lock.hpp>

#include "cli.hpp"
#include "guarded_main.hpp"
#include "option_text.hpp"
#include "predict_cli.hpp"

namespace {

/// `deeprfm predict ...`: argv[0] is "predict".
int predict_main(int argc, char** argv, const deeprfm::mpi::Communicator& world) {
  deeprfm::app::MainContext context;
  context.program = "deeprfm predict";
  context.flag_for = deeprfm::app::predict_flag_for_subject;
  context.out_of_memory_advice = "use more ranks, or predict fewer points at a time (--n)";
  return deeprfm::app::guarded_main(world, context, [&] {
    deeprfm::app::PredictCommand command;
    deeprfm::mpi::run_agreed(
        world, [&] { command = deeprfm::app::parse_predict_command_line(argc, argv); });
    if (!command.run) {
      if (world.rank() == 0) std::cout << command.text;
      return 0;
    }
    // One writer per output file, as for a run's results.
    const deeprfm::store::RunLock lock(command.settings.output, world);
    deeprfm::rfm::PredictSettings settings;
    {
      const deeprfm::rfm::SavedModel model(command.settings.model_path, world);
      deeprfm::mpi::run_agreed(
          world, [&] { settings = deeprfm::app::predict_settings(command, model.run_options()); });
    }
    return deeprfm::rfm::run_predict(settings, world);
  });
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
  const double process_start = deeprfm::unix_now();
  deeprfm::mpi::Environment env(&argc, &argv);
  deeprfm::ensure_stop_handlers();  // in case MPI_Init replaced them (Open MPI 4.1 does not)
  auto world = deeprfm::mpi::Communicator::world();
  if (argc >= 2 && std::string(argv[1]) == "predict")
    return predict_main(argc - 1, argv + 1, world);
  deeprfm::app::MainContext context;
  context.program = deeprfm::rfm::kProgramName;
  context.flag_for = deeprfm::app::flag_for_subject;
  return deeprfm::app::guarded_main(world, context, [&] {
    deeprfm::app::ParseResult parsed;
    std::optional<deeprfm::rfm::RunStore> existing;
    // One writer per results file, from before anything reads or cleans it until the end.
    std::optional<deeprfm::store::RunLock> lock;
    const std::string resume = deeprfm::app::resume_path(argc, argv);
    if (!resume.empty()) {
      lock.emplace(resume, world);
      existing.emplace(resume, world);
      existing->open_existing();
    }
    // Parsing does no communication and gives the same answer on every rank.
    deeprfm::mpi::run_agreed(world, [&] {
      parsed =
          deeprfm::app::parse_command_line(argc, argv, existing ? &existing->options() : nullptr);
    });
    if (!parsed.run) {
      if (world.rank() == 0) std::cout << parsed.text;
      return parsed.exit_code;
    }
    context.output = parsed.options.output;
    if (!lock) lock.emplace(parsed.options.output, world);
    if (parsed.options.continue_run) {
      // --continue: resume the file if it holds this very run, start it if it is absent.
      std::int64_t exists = 0;
      if (world.rank() == 0) exists = std::filesystem::exists(parsed.options.output) ? 1 : 0;
      if (world.max(exists) != 0) {
        existing.emplace(parsed.options.output, world);
        existing->open_existing();
        deeprfm::mpi::run_agreed(world, [&] {
          const std::string mismatch =
              deeprfm::app::continue_mismatch(parsed.options, existing->options());
          DEEPRFM_CHECK(mismatch.empty(), input, mismatch);
        });
      }
    }
    // Every rank uses rank 0's deadline, margin and grace.
    const deeprfm::TimeLimits limits = deeprfm::agree_time_limits(parsed.options.limits, world);
    deeprfm::WatchdogText text;
    text.program = deeprfm::rfm::kProgramName;
    text.unit = "layer";
    text.output = parsed.options.output;
    text.resume_flag = "--resume";
    text.stop_grace_flag = "--stop-grace";
    deeprfm::Watchdog watchdog(limits, text, world.rank());
    // A rank that dies or stops beating ends every other rank (docs/checkpointing.md).
    const deeprfm::PeerWatch peers(parsed.options.output, limits.peer_timeout, text, world);
    return deeprfm::rfm::run_deep_rfm(parsed.options, limits, process_start, world,
                                      existing ? &*existing : nullptr, watchdog);
  });
}
