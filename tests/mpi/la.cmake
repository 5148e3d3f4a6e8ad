# The distribution's index maps, PBLAS products on every grid shape (6 ranks: the rectangular
# grids 2x3 and 3x2) and PILAENV (instrumented, as the programs are); and a program that links
# the library alone (no instrumentation).
deeprfm_add_test(NAME test_distribution SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_distribution.cpp
                 RANKS 1 2 4 6 LABELS la INSTRUMENTED)
deeprfm_add_test(NAME test_uninstrumented
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_uninstrumented.cpp RANKS 1 2 LABELS la)
