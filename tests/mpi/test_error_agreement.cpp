// The Error type and the agreement protocol: an agreed error owns its strings (the source file
// of an earlier agreed error stays valid after later ones), names the failing rank once, and a
// second agreement of an agreed error keeps its message instead of guessing from its text.
#include <boost/test/unit_test.hpp>

#include <string>

#include <deeprfm/base/error.hpp>
#include <deeprfm/mpi/communicator.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

namespace {
Error agreed_error_from(const mpi::Communicator& comm, int failing_rank, const std::string& text) {
  try {
    mpi::run_agreed(comm, [&] { DEEPRFM_CHECK(comm.rank() != failing_rank, input, text); });
  } catch (const Error& e) {
    return e;
  }
  BOOST_FAIL("no error was agreed");
  return Error(ErrorKind::internal, "", "", 0);
}
}  // namespace

BOOST_AUTO_TEST_CASE(agreed_error_owns_its_strings_and_names_the_rank_once) {
  auto world = mpi::Communicator::world();
  const int last = world.size() - 1;
  const Error first = agreed_error_from(world, last, "first failure");
  const Error second = agreed_error_from(world, last, "second failure");
  DEEPRFM_CHECK_ALL(first.agreed() && second.agreed());
  DEEPRFM_CHECK_ALL(first.kind() == ErrorKind::input);
  // The first error's file name is still its own after the second agreement.
  DEEPRFM_CHECK_ALL(std::string(first.file()).find("test_error_agreement.cpp") !=
                    std::string::npos);
  DEEPRFM_CHECK_ALL(first.line() > 0 && first.line() == second.line());
  const std::string expected =
      world.size() > 1 ? "rank " + std::to_string(last) + ": first failure" : "first failure";
  DEEPRFM_CHECK_ALL(first.what() == expected);
}

BOOST_AUTO_TEST_CASE(an_agreed_error_agreed_again_keeps_its_message) {
  auto world = mpi::Communicator::world();
  const int last = world.size() - 1;
  std::string message;
  bool agreed = false;
  try {
    // The inner agreement names the rank; the outer one must not add a second prefix, and is
    // told so by the error's agreed() flag, not by its text.
    mpi::run_agreed(world, [&] { throw agreed_error_from(world, last, "inner"); });
  } catch (const Error& e) {
    message = e.what();
    agreed = e.agreed();
  }
  const std::string expected =
      world.size() > 1 ? "rank " + std::to_string(last) + ": inner" : "inner";
  DEEPRFM_CHECK_ALL(agreed && message == expected);
}

BOOST_AUTO_TEST_CASE(a_local_message_that_starts_with_rank_is_still_attributed) {
  auto world = mpi::Communicator::world();
  const int last = world.size() - 1;
  const Error e = agreed_error_from(world, last, "rank count too small");
  // The old protocol took a message starting with "rank " for an agreed one and left it bare.
  const std::string expected = world.size() > 1
                                   ? "rank " + std::to_string(last) + ": rank count too small"
                                   : "rank count too small";
  DEEPRFM_CHECK_ALL(std::string(e.what()) == expected);
}

BOOST_AUTO_TEST_CASE(the_subject_travels_with_the_agreed_error) {
  auto world = mpi::Communicator::world();
  const int last = world.size() - 1;
  std::string subject, message;
  try {
    // Only the last rank knows what the error is about; every rank must learn it, since the
    // command line's flag is added from it on rank 0.
    mpi::run_agreed(world, [&] {
      DEEPRFM_CHECK_ABOUT(world.rank() != last, input, "n", "synthetic data needs n > 0");
    });
  } catch (const Error& e) {
    subject = e.subject();
    message = e.what();
  }
  DEEPRFM_CHECK_ALL(subject == "n");
  DEEPRFM_CHECK_ALL(message.find("--") == std::string::npos);
  // Agreed again (nested), it keeps its subject.
  try {
    mpi::run_agreed(world, [&] {
      mpi::run_agreed(world, [&] { DEEPRFM_THROW_ABOUT(numerical, "precision,ridge", "x"); });
    });
  } catch (const Error& e) {
    subject = e.subject();
  }
  DEEPRFM_CHECK_ALL(subject == "precision,ridge");
}

BOOST_AUTO_TEST_CASE(a_failed_mpi_call_is_a_resource_error_with_the_mpi_error_string) {
  auto world = mpi::Communicator::world();
  // MPI_ERRORS_RETURN is set (Environment, the test fixture): a negative count is refused by the
  // call, on every rank alike, with MPI_ERR_COUNT.
  int value = 0;
  const int rc = MPI_Bcast(&value, -1, MPI_INT, 0, world.get());
  DEEPRFM_CHECK_ALL(rc != MPI_SUCCESS);
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  bool resource = false;
  std::string message;
  try {
    mpi::check(rc, "MPI_Bcast");
  } catch (const Error& e) {
    resource = e.kind() == ErrorKind::resource && !e.agreed();
    message = e.what();
  }
  DEEPRFM_CHECK_ALL(resource);
  DEEPRFM_CHECK_ALL(message == "MPI_Bcast failed: " + std::string(text, len));
  BOOST_CHECK_NO_THROW(mpi::check(MPI_SUCCESS, "MPI_Barrier"));
}
