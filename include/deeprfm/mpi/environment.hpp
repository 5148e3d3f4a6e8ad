#pragma once
/// RAII for MPI_Init / MPI_Finalize.
#include <mpi.h>

namespace deeprfm::mpi {

/// Initialises MPI (thread level FUNNELED) on construction and finalises it on destruction,
/// unless MPI was already initialised by someone else. Collective over MPI_COMM_WORLD.
class Environment {
 public:
  Environment(int* argc, char*** argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  /// Abort every rank with the given exit code (used by main after a fatal error). Local call,
  /// global effect.
  [[noreturn]] static void abort(int exit_code);

 private:
  bool owns_ = false;
};

}  // namespace deeprfm::mpi
