deeprfm_add_test(NAME test_rfm_core SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rfm_core.cpp
                 RANKS 1 2 4 LABELS rfm)
deeprfm_add_test(NAME test_deep_rfm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_deep_rfm.cpp
                 RANKS 1 2 3 4 LABELS rfm TIMEOUT 600)
deeprfm_add_test(NAME test_mixed_precision SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mixed_precision.cpp
                 RANKS 1 2 4 LABELS rfm)
