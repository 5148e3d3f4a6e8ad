#include "guarded_main.hpp"

#include <cstdio>
#include <new>

#include <deeprfm/base/error.hpp>
#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/mpi/environment.hpp>

#include "option_text.hpp"

namespace deeprfm::app {

namespace {
/// " in layer 3, phase agop" or "".
std::string where_text() {
  const std::string where = run_context();
  return where.empty() ? "" : " in " + where;
}
}  // namespace

int guarded_main(const mpi::Communicator& world, MainContext& context,
                 const std::function<int()>& body) {
  const char* program = context.program;
  try {
    return body();
  } catch (const StopRequested& stop) {
    // Every rank threw it at the same safe point; the last complete checkpoint is intact.
    const int committed = committed_progress();
    if (world.rank() == 0 && committed > 0) {
      std::fprintf(stderr,
                   "%s: stopped by signal %d; the last complete checkpoint is in %s.\n"
                   "%s: continue with: mpirun -n P %s --resume %s\n",
                   program, stop.signal(), context.output.c_str(), program, program,
                   context.output.c_str());
    } else if (world.rank() == 0 && committed == 0) {
      // The file exists and holds the run's data but no complete layer: it resumes.
      std::fprintf(stderr,
                   "%s: stopped by signal %d before the first checkpoint; %s holds no complete "
                   "checkpoint yet.\n%s: continue with: mpirun -n P %s --resume %s\n",
                   program, stop.signal(), context.output.c_str(), program, program,
                   context.output.c_str());
    } else if (world.rank() == 0) {
      std::fprintf(stderr,
                   "%s: stopped by signal %d before the first checkpoint; no results file was "
                   "written%s%s: start again with the same command\n",
                   program, stop.signal(), context.output.empty() ? ".\n" : " (",
                   context.output.empty() ? "" : (context.output + ").\n").c_str());
    }
    return kExitStoppedBySignal;
  } catch (const TimeLimitStop& stop) {
    // Every rank took the same decision from the same (broadcast) values.
    if (world.rank() == 0) {
      std::fprintf(stderr, "%s: %s\n", program, stop.what());
      std::fflush(stderr);
    }
    return stop.exit_code();
  } catch (const Error& e) {
    // The library names the quantity; the command line adds its flag for it.
    const std::string message = e.what() + flag_suffix(e.subject(), context.flag_for);
    if (e.agreed()) {
      // Every rank has the same error: rank 0 reports, all exit together.
      if (world.rank() == 0)
        std::fprintf(stderr, "%s: error%s: %s\n", program, where_text().c_str(), message.c_str());
      return static_cast<int>(e.kind());
    }
    std::fprintf(stderr, "%s: error on rank %d%s: %s (aborting all ranks)\n", program, world.rank(),
                 where_text().c_str(), message.c_str());
    mpi::Environment::abort(static_cast<int>(e.kind()));
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error on rank %d%s: out of memory (aborting all ranks); %s\n",
                 program, world.rank(), where_text().c_str(), context.out_of_memory_advice);
    mpi::Environment::abort(static_cast<int>(ErrorKind::resource));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error on rank %d%s: %s (aborting all ranks)\n", program, world.rank(),
                 where_text().c_str(), e.what());
    mpi::Environment::abort(static_cast<int>(ErrorKind::internal));
  }
  return static_cast<int>(ErrorKind::internal);  // not reached: abort does not return
}

}  // namespace deeprfm::app
