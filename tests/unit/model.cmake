# The two paths of the vectorised kernel maths (src/model/vector_math*.cpp), forced through
# DEEPRFM_VECTOR_MATH: one entry per value, serial (no mpiexec). On a CPU without AVX2/FMA the
# avx2 entry exits 77 and ctest reports it as skipped (SKIP_RETURN_CODE), never as passed. A
# bad value must be refused by name: that entry runs only the cases that check it.
deeprfm_add_test(NAME test_vector_math SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vector_math.cpp
                 LABELS model TIMEOUT 60)
# deeprfm_add_test made the entry `test_vector_math` (the default, auto); pin its environment.
set_tests_properties(test_vector_math PROPERTIES
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1;DEEPRFM_VECTOR_MATH=auto")
foreach(path IN ITEMS sse2 avx2)
  add_test(NAME test_vector_math_${path} COMMAND test_vector_math)
  set_tests_properties(test_vector_math_${path} PROPERTIES TIMEOUT 60 LABELS "unit;model"
                       SKIP_RETURN_CODE 77
                       ENVIRONMENT "OPENBLAS_NUM_THREADS=1;DEEPRFM_VECTOR_MATH=${path}")
endforeach()
add_test(NAME test_vector_math_bad_value
         COMMAND test_vector_math
                 --run_test=parse_vector_math_path_accepts_three_values:the_path_follows_DEEPRFM_VECTOR_MATH_read_once)
set_tests_properties(test_vector_math_bad_value PROPERTIES TIMEOUT 60 LABELS "unit;model"
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1;DEEPRFM_VECTOR_MATH=avx512")
