#include <deeprfm/model/vector_math.hpp>

namespace deeprfm::model {

namespace {
bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
}  // namespace

void laplace_values(double* v, long n, double inv_bandwidth) {
  if (have_avx2())
    detail::laplace_values_avx2(v, n, inv_bandwidth);
  else
    detail::laplace_values_sse2(v, n, inv_bandwidth);
}

void gaussian_values(double* v, long n, double scale) {
  if (have_avx2())
    detail::gaussian_values_avx2(v, n, scale);
  else
    detail::gaussian_values_sse2(v, n, scale);
}

void laplace_weights_from_values(double* v, long n, double bandwidth, double cutoff) {
  if (have_avx2())
    detail::laplace_weights_from_values_avx2(v, n, bandwidth, cutoff);
  else
    detail::laplace_weights_from_values_sse2(v, n, bandwidth, cutoff);
}

}  // namespace deeprfm::model
