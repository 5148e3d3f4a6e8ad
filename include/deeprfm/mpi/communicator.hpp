#pragma once
/// A thin, RAII-owning wrapper of MPI_Comm plus the error-agreement protocol: no rank may
/// throw out of a code path while the others wait in a collective, so local failures are
/// agreed over the communicator first and then thrown on every rank with the same message.
#include <mpi.h>

#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <deeprfm/base/error.hpp>

namespace deeprfm::mpi {

/// How a failed MPI call is reported, everywhere in deeprfm: Environment sets MPI_ERRORS_RETURN
/// on MPI_COMM_WORLD (communicators derived from it inherit it), and every return code goes
/// through check(), which throws Error(resource) naming the call and carrying MPI_Error_string.
/// Always `resource` (exit code 4), whatever the MPI error class: an MPI failure is the
/// communication layer's (network, MPI's memory, a lost process), and one caused by a bad
/// argument is told apart by the call named in the message, not by the kind. Likewise ScaLAPACK
/// `info` < 0 (an illegal argument) is `internal`, `info` > 0 `numerical`; HDF5 failures are
/// `resource` (deeprfm/h5/hdf5.hpp).
///
/// Throw Error(resource) "<what> failed: <MPI error string>" unless rc == MPI_SUCCESS. Local:
/// the error is not agreed (a failed collective usually fails on every rank, but MPI does not
/// promise it), so it ends the job through MPI_Abort (src/app/guarded_main.cpp).
void check(int rc, const char* what);

/// Non-copyable, movable handle; frees the communicator it owns. Never owns MPI_COMM_WORLD.
class Communicator {
 public:
  /// Wrap MPI_COMM_WORLD (not owned). Local.
  static Communicator world();
  /// Wrap an existing communicator; frees it on destruction if `owned`. Local.
  Communicator(MPI_Comm comm, bool owned);
  Communicator() = default;
  ~Communicator();
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  MPI_Comm get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  /// MPI_Comm_split. Collective.
  Communicator split(int color, int key) const;
  /// MPI_Barrier. Collective.
  void barrier() const;

  /// Logical AND of a flag over all ranks. Collective.
  bool all_of(bool local) const;
  /// Sum / max / min of a value over all ranks. Collective.
  double sum(double local) const;
  double max(double local) const;
  double min(double local) const;
  std::int64_t sum(std::int64_t local) const;
  std::int64_t max(std::int64_t local) const;
  /// In-place elementwise sum of a buffer over all ranks (MPI_Allreduce). Collective.
  void sum_in_place(double* data, std::size_t count) const;
  void sum_in_place(std::int64_t* data, std::size_t count) const;
  /// Broadcast a buffer / string from `root`. Collective.
  void broadcast(double* data, std::size_t count, int root) const;
  void broadcast(std::string& text, int root) const;

  /// Concatenation of every rank's vector, in rank order (MPI_Allgatherv). Collective.
  std::vector<int> all_gather(const std::vector<int>& local) const;

  /// The error-agreement step: every rank passes its local failure (or nullptr). If any rank
  /// failed, every rank throws the same deeprfm::Error, carrying the message, kind, source
  /// location and subject of the lowest failing rank, the message prefixed by "rank R: " when
  /// only some ranks failed. Collective.
  void agree(std::exception_ptr local_failure) const;

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owned_ = false;
  int rank_ = 0;
  int size_ = 0;
};

/// Run `body` on every rank, then agree on failure (see Communicator::agree). `body` must not
/// itself call collectives that other ranks could skip after a local throw. Collective.
template <class Body>
void run_agreed(const Communicator& comm, Body&& body) {
  std::exception_ptr failure;
  try {
    std::forward<Body>(body)();
  } catch (...) {
    failure = std::current_exception();
  }
  comm.agree(failure);
}

/// Agree on a local condition: throws the same Error on every rank if it fails anywhere.
/// Collective (every rank must reach it).
#define DEEPRFM_AGREE(comm, cond, kind, msg) \
  ::deeprfm::mpi::run_agreed((comm), [&] { DEEPRFM_CHECK(cond, kind, msg); })

/// DEEPRFM_AGREE about one setting (Error::subject, deeprfm/base/error.hpp). Collective.
#define DEEPRFM_AGREE_ABOUT(comm, cond, kind, subject, msg) \
  ::deeprfm::mpi::run_agreed((comm), [&] { DEEPRFM_CHECK_ABOUT(cond, kind, subject, msg); })

}  // namespace deeprfm::mpi
