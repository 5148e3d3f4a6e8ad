#pragma once
/// Elementwise kernel evaluation over contiguous arrays, vectorised with glibc's vector math
/// library (libmvec): about 3.5x faster than scalar exp/sqrt/log on the n^2 elements of a
/// kernel matrix. The AVX2 variant is chosen at run time when the CPU has it, unless the
/// environment variable DEEPRFM_VECTOR_MATH (sse2 | avx2 | auto) forces a path; results agree
/// with the scalar functions to a few ulps. All functions are local.
#include <string>

namespace deeprfm::model {

/// The two compiled variants of the loops below.
enum class VectorMathPath { sse2, avx2 };

/// "sse2" / "avx2". Local.
const char* to_string(VectorMathPath path);

/// True if the CPU has AVX2 and FMA (what the avx2 variant is compiled for). Local.
bool cpu_has_avx2();

/// The path a DEEPRFM_VECTOR_MATH value selects: "auto" or "" -> avx2 if cpu_has_avx2(), else
/// sse2; "sse2"; "avx2" (Error(input) if the CPU lacks AVX2/FMA). Any other value is an
/// Error(input) naming the variable and the allowed values. Local.
VectorMathPath parse_vector_math_path(const std::string& value);

/// The path the functions below use: DEEPRFM_VECTOR_MATH read once, at the first call of any of
/// them (thread-safe); unset means auto. A bad value throws Error(input) at that call (and at
/// every later one), on every rank alike, since every rank reads the same environment. Local.
VectorMathPath vector_math_path();

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
