deeprfm_add_test(NAME test_data_distribution
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_data_distribution.cpp
                 RANKS 1 2 4 LABELS data)
