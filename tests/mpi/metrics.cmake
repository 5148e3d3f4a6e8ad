deeprfm_add_test(NAME test_metrics SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_metrics.cpp
                 RANKS 1 2 4 LABELS metrics)
