# 6 ranks (oversubscribed): every sweep over test::all_grid_shapes() then runs 1x6, 2x3, 3x2 and
# 6x1, the only grids with Pr != Pc > 1 in the suite (test::GridCoverage checks and prints them).
deeprfm_add_test(NAME test_rfm_core SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rfm_core.cpp
                 RANKS 1 2 4 6 LABELS rfm)
deeprfm_add_test(NAME test_deep_rfm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_deep_rfm.cpp
                 RANKS 1 2 3 4 6 LABELS rfm TIMEOUT 600)
deeprfm_add_test(NAME test_mixed_precision SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mixed_precision.cpp
                 RANKS 1 2 4 LABELS rfm)
