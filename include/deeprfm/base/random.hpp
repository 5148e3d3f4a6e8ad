#pragma once
/// Portable random numbers: the same bits from every C++ standard library (std::mt19937_64 is
/// specified exactly; the std::*_distribution classes are not, so they are not used). Used for
/// the random feature maps and synthetic data, which must not depend on the platform or on the
/// number of ranks. All functions are local and pure.
#include <cstddef>
#include <cstdint>

namespace deeprfm {

/// The splitmix64 finaliser: a bijective 64-bit mix used to derive independent seeds.
std::uint64_t splitmix64(std::uint64_t x);

/// Fill out[0..count) with standard normal values from a generator seeded by `key`
/// (std::mt19937_64 + Box-Muller).
void standard_normals(std::uint64_t key, double* out, std::size_t count);

/// Fill out[0..count) with values uniform on [low, high) from a generator seeded by `key`
/// (53 random bits per value).
void uniform_values(std::uint64_t key, double low, double high, double* out, std::size_t count);

}  // namespace deeprfm
