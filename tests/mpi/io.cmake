# 6 ranks: the rectangular grids 2x3 and 3x2 (Pr != Pc > 1) in the block-cyclic round trips.
deeprfm_add_test(NAME test_io_hdf5 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_io_hdf5.cpp
                 RANKS 1 2 4 6 LABELS io)
deeprfm_add_test(NAME test_data_hdf5_input SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_data_hdf5_input.cpp
                 RANKS 1 2 4 LABELS io)
deeprfm_add_test(NAME test_checkpoint_file SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_checkpoint_file.cpp
                 RANKS 1 2 4 LABELS io)
