deeprfm_add_test(NAME test_data_sources SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_data_sources.cpp
                 LABELS data)
