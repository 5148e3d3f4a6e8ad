#pragma once
/// Elementwise kernel evaluation over contiguous arrays, vectorised with glibc's vector math
/// library (libmvec): about 3.5x faster than scalar exp/sqrt/log on the n^2 elements of a
/// kernel matrix. The AVX2 variant is chosen at run time when the CPU has it; results agree
/// with the scalar functions to a few ulps. All functions are local.
namespace deeprfm::model {

/// v[i] <- exp(-sqrt(max(v[i], 0)) * inv_bandwidth): Laplace kernel values from squared
/// distances, in place.
void laplace_values(double* v, long n, double inv_bandwidth);
/// v[i] <- exp(-max(v[i], 0) * scale): Gaussian kernel values from squared distances
/// (scale = 1 / (2 s^2)), in place.
void gaussian_values(double* v, long n, double scale);
/// v[i] <- w(k = v[i]) = k / r with r = -s log k (Laplace), 0 where r < cutoff or k >= 1:
/// AGOP weights from Laplace kernel values, in place.
void laplace_weights_from_values(double* v, long n, double bandwidth, double cutoff);

namespace detail {
void laplace_values_avx2(double* v, long n, double inv_bandwidth);
void gaussian_values_avx2(double* v, long n, double scale);
void laplace_weights_from_values_avx2(double* v, long n, double bandwidth, double cutoff);
void laplace_values_sse2(double* v, long n, double inv_bandwidth);
void gaussian_values_sse2(double* v, long n, double scale);
void laplace_weights_from_values_sse2(double* v, long n, double bandwidth, double cutoff);
}  // namespace detail

}  // namespace deeprfm::model
