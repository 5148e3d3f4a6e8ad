deeprfm_add_test(NAME test_rfm_core SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rfm_core.cpp
                 RANKS 1 2 4 LABELS rfm)
