#define DEEPRFM_VM_NAME(f) f##_avx2
#include "vector_math_loops.inc"
