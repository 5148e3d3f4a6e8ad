# The Error type and the agreement of errors across ranks (base/error.hpp, mpi/communicator.hpp).
deeprfm_add_test(NAME test_error_agreement
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_error_agreement.cpp RANKS 1 2 4 LABELS mpi)
