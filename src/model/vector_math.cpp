#include <deeprfm/model/vector_math.hpp>

#include <cstdlib>

#include <deeprfm/base/error.hpp>

namespace deeprfm::model {

const char* to_string(VectorMathPath path) {
  return path == VectorMathPath::avx2 ? "avx2" : "sse2";
}

bool cpu_has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

VectorMathPath parse_vector_math_path(const std::string& value) {
  if (value.empty() || value == "auto")
    return cpu_has_avx2() ? VectorMathPath::avx2 : VectorMathPath::sse2;
  if (value == "sse2") return VectorMathPath::sse2;
  if (value == "avx2") {
    DEEPRFM_CHECK(cpu_has_avx2(), input,
                  "DEEPRFM_VECTOR_MATH=avx2, but this CPU lacks AVX2/FMA; use sse2 or auto");
    return VectorMathPath::avx2;
  }
  DEEPRFM_THROW(input, "DEEPRFM_VECTOR_MATH=\"" << value << "\" is not one of sse2, avx2, auto");
}

VectorMathPath vector_math_path() {
  // A static initialised by a call that throws is initialised again at the next call.
  static const VectorMathPath path = [] {
    const char* value = std::getenv("DEEPRFM_VECTOR_MATH");
    return parse_vector_math_path(value ? value : "");
  }();
  return path;
}

void laplace_values(double* v, long n, double inv_bandwidth) {
  if (vector_math_path() == VectorMathPath::avx2)
    detail::laplace_values_avx2(v, n, inv_bandwidth);
  else
    detail::laplace_values_sse2(v, n, inv_bandwidth);
}

void gaussian_values(double* v, long n, double scale) {
  if (vector_math_path() == VectorMathPath::avx2)
    detail::gaussian_values_avx2(v, n, scale);
  else
    detail::gaussian_values_sse2(v, n, scale);
}

void laplace_weights_from_values(double* v, long n, double bandwidth, double cutoff) {
  if (vector_math_path() == VectorMathPath::avx2)
    detail::laplace_weights_from_values_avx2(v, n, bandwidth, cutoff);
  else
    detail::laplace_weights_from_values_sse2(v, n, bandwidth, cutoff);
}

}  // namespace deeprfm::model
