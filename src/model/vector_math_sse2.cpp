#define DEEPRFM_VM_NAME(f) f##_sse2
#include "vector_math_loops.inc"
