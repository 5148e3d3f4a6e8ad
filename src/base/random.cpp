#include <deeprfm/base/random.hpp>

#include <cmath>
#include <random>

namespace deeprfm {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void standard_normals(std::uint64_t key, double* out, std::size_t count) {
  std::mt19937_64 engine(key);
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  constexpr double kInv53 = 1.0 / 9007199254740992.0;  // 2^-53
  for (std::size_t k = 0; k < count; k += 2) {
    const double u1 = (static_cast<double>(engine() >> 11) + 1.0) * kInv53;  // (0, 1]
    const double u2 = static_cast<double>(engine() >> 11) * kInv53;          // [0, 1)
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[k] = r * std::cos(kTwoPi * u2);
    if (k + 1 < count) out[k + 1] = r * std::sin(kTwoPi * u2);
  }
}

void uniform_values(std::uint64_t key, double low, double high, double* out, std::size_t count) {
  std::mt19937_64 engine(key);
  constexpr double kInv53 = 1.0 / 9007199254740992.0;
  for (std::size_t k = 0; k < count; ++k)
    out[k] = low + (high - low) * (static_cast<double>(engine() >> 11) * kInv53);
}

}  // namespace deeprfm
