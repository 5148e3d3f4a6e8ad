deeprfm_add_test(NAME test_distribution SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_distribution.cpp
                 RANKS 1 2 4 LABELS la)
