// Boost.Test entry point shared by every test executable: a global fixture initialises MPI
// once, and only rank 0 reports (the others log errors only), so output is readable.
#define BOOST_TEST_MODULE deeprfm
#include <boost/test/unit_test.hpp>
#include <boost/test/results_reporter.hpp>

#include <mpi.h>

namespace {
struct MpiGlobalFixture {
  MpiGlobalFixture() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      MPI_Init_thread(&boost::unit_test::framework::master_test_suite().argc,
                      &boost::unit_test::framework::master_test_suite().argv, MPI_THREAD_FUNNELED,
                      &provided);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank != 0) {
      boost::unit_test::unit_test_log.set_threshold_level(boost::unit_test::log_all_errors);
      boost::unit_test::results_reporter::set_level(boost::unit_test::report_level::NO_REPORT);
    }
  }
  ~MpiGlobalFixture() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
};
}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(MpiGlobalFixture);
