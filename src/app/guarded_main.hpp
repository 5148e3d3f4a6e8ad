#pragma once
/// The exit protocol shared by deeprfm, deeprfm-mlp and deeprfm-bench: what a program's body
/// throws becomes an exit code and one message (docs/checkpointing.md):
///   - StopRequested (a signal, agreed at a safe point): exit 75 with how to resume;
///   - an agreed Error: rank 0 reports, every rank returns the error's exit code;
///   - an Error about a setting (Error::subject) is printed with the program's flag for it;
///   - anything else (an Error seen by some ranks, std::bad_alloc, another std::exception):
///     the rank that saw it reports and aborts all ranks (MPI_Abort), so none hangs.
#include <functional>
#include <string>

#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::app {

struct MainContext {
  const char* program = "deeprfm";  ///< prefix of every message
  std::string output;               ///< the results file, once known (for the resume hint)
  const char* out_of_memory_advice = "use more ranks or a smaller --n";
  /// The program's flag of a setting an Error is about (Error::subject), appended to the
  /// printed message; "" when the program has no such option.
  std::function<std::string(const std::string&)> flag_for;
};

/// Run `body` (which may fill context.output) under the exit protocol above. Called by every
/// rank; collective as far as `body` is.
int guarded_main(const mpi::Communicator& world, MainContext& context,
                 const std::function<int()>& body);

}  // namespace deeprfm::app
