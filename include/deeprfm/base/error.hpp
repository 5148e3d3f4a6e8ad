#pragma once
/// Error handling: one exception type, thrown through macros that attach file and line
/// (so a check can never be written without its throw). Agreement across ranks lives in
/// deeprfm/mpi/communicator.hpp (Communicator::agree, run_agreed, DEEPRFM_AGREE).
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace deeprfm {

/// What went wrong, in categories a job script can act on (also the process exit code).
enum class ErrorKind : int {
  input = 2,      ///< bad option, bad file, bad data
  numerical = 3,  ///< factorisation failed, residual too large, NaN/Inf
  resource = 4,   ///< memory, file system, HDF5
  internal = 5,   ///< a bug: an invariant did not hold
  // 75 (EX_TEMPFAIL) is the exit code of a run stopped by a signal: runtime/run_control.hpp.
};

/// The exception every deeprfm error is. Local: throwing it says nothing to other ranks. It owns
/// its strings (message, source file, subject), so it stays valid however long it is kept.
///
/// Library messages describe the problem in terms of the quantity or input ("synthetic data
/// needs a sample count n > 0"), never a command-line flag: the library is also used without
/// the deeprfm command lines. An error about one setting names it in `subject`, a short
/// machine-readable key (kebab-case; by convention the name the deeprfm command line gives that
/// setting: "n", "data-dir", "ridge", "checkpoint" ...). A command line maps the subject to its
/// own flag when it prints the message (src/app/guarded_main.cpp).
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, std::string file, int line, bool agreed = false,
        std::string subject = {})
      : std::runtime_error(message),
        kind_(kind),
        file_(std::move(file)),
        line_(line),
        agreed_(agreed),
        subject_(std::move(subject)) {}
  ErrorKind kind() const noexcept { return kind_; }
  const char* file() const noexcept { return file_.c_str(); }
  int line() const noexcept { return line_; }
  /// True when every rank of the communicator throws this same error (it came out of
  /// Communicator::agree), so the program may unwind normally instead of aborting. Set only
  /// by the agreement itself; an agreed error that is agreed again keeps its message.
  bool agreed() const noexcept { return agreed_; }
  /// The setting the error is about ("n", "ridge", ...), or "" when it is about none; travels
  /// with the agreed error to every rank.
  const std::string& subject() const noexcept { return subject_; }

 private:
  ErrorKind kind_;
  std::string file_;
  int line_;
  bool agreed_;
  std::string subject_;
};

namespace detail {
[[noreturn]] inline void throw_error(ErrorKind kind, const std::string& message, const char* file,
                                     int line, const char* subject = "") {
  throw Error(kind, message, file, line, /*agreed=*/false, subject);
}
}  // namespace detail

}  // namespace deeprfm

/// Throw deeprfm::Error of the given kind; the message is streamed: DEEPRFM_THROW(input, "n=" <<
/// n).
#define DEEPRFM_THROW(kind, msg)                                                             \
  do {                                                                                       \
    std::ostringstream deeprfm_oss_;                                                         \
    deeprfm_oss_ << msg;                                                                     \
    ::deeprfm::detail::throw_error(::deeprfm::ErrorKind::kind, deeprfm_oss_.str(), __FILE__, \
                                   __LINE__);                                                \
  } while (0)

/// Throw deeprfm::Error about one setting (Error::subject): DEEPRFM_THROW_ABOUT(input, "n",
/// "synthetic data needs a sample count n > 0"). The message names the quantity, not a flag.
#define DEEPRFM_THROW_ABOUT(kind, subject, msg)                                              \
  do {                                                                                       \
    std::ostringstream deeprfm_oss_;                                                         \
    deeprfm_oss_ << msg;                                                                     \
    ::deeprfm::detail::throw_error(::deeprfm::ErrorKind::kind, deeprfm_oss_.str(), __FILE__, \
                                   __LINE__, subject);                                       \
  } while (0)

/// Throw if the condition does not hold (local check).
#define DEEPRFM_CHECK(cond, kind, msg)     \
  do {                                     \
    if (!(cond)) DEEPRFM_THROW(kind, msg); \
  } while (0)

/// Throw about one setting if the condition does not hold (local check).
#define DEEPRFM_CHECK_ABOUT(cond, kind, subject, msg)     \
  do {                                                    \
    if (!(cond)) DEEPRFM_THROW_ABOUT(kind, subject, msg); \
  } while (0)

/// An internal invariant (a bug if it fails); kept in release builds, it is cheap.
#define DEEPRFM_ASSERT(cond) \
  DEEPRFM_CHECK(cond, internal, "internal error: assertion '" #cond "' failed")
