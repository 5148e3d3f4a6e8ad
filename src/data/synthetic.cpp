#include <deeprfm/data/synthetic.hpp>

#include <cmath>
#include <random>
#include <sstream>

#include <deeprfm/core/error.hpp>

namespace deeprfm::data {

namespace {
constexpr std::uint64_t kMeansTag = 0x6d65616e73ULL;   // "means"
constexpr std::uint64_t kSampleTag = 0x73616d706cULL;  // "sampl"

std::uint64_t key_of(std::uint64_t seed, std::uint64_t tag, std::uint64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ tag) ^ index);
}
}  // namespace

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

SyntheticSource::SyntheticSource(std::int64_t n, int dim, int classes, double separation,
                                 std::uint64_t seed, SyntheticStream stream)
    : n_(n), dim_(dim), classes_(classes), separation_(separation), seed_(seed), stream_(stream) {
  DEEPRFM_CHECK(n >= 1, input, "synthetic data: need at least one sample (--n), got " << n);
  DEEPRFM_CHECK(dim >= 1, input, "synthetic data: dimension must be positive, got " << dim);
  DEEPRFM_CHECK(classes >= 1, input, "synthetic data: classes must be positive, got " << classes);
  DEEPRFM_CHECK(std::isfinite(separation) && separation >= 0, input,
                "synthetic data: separation must be finite and >= 0, got " << separation);
  means_.resize(static_cast<std::size_t>(classes) * dim);
  for (int c = 0; c < classes; ++c) {
    double* mean = means_.data() + static_cast<std::size_t>(c) * dim;
    standard_normals(key_of(seed, kMeansTag, static_cast<std::uint64_t>(c)), mean,
                     static_cast<std::size_t>(dim));
    for (int j = 0; j < dim; ++j) mean[j] *= separation;
  }
  labels_.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    labels_[static_cast<std::size_t>(i)] = static_cast<int>(i % classes);
}

void SyntheticSource::read_rows(std::int64_t first, std::int64_t count, double* out) {
  DEEPRFM_CHECK(first >= 0 && count >= 0 && first + count <= n_, internal,
                "SyntheticSource::read_rows: rows [" << first << ", " << first + count
                                                     << ") outside [0, " << n_ << ")");
  const std::uint64_t tag = kSampleTag + static_cast<std::uint64_t>(stream_);
  for (std::int64_t r = 0; r < count; ++r) {
    const std::int64_t i = first + r;
    double* row = out + static_cast<std::size_t>(r) * dim_;
    standard_normals(key_of(seed_, tag, static_cast<std::uint64_t>(i)), row,
                     static_cast<std::size_t>(dim_));
    const double* mean = means_.data() + static_cast<std::size_t>(i % classes_) * dim_;
    for (int j = 0; j < dim_; ++j) row[j] += mean[j];
  }
}

std::string SyntheticSource::describe() const {
  std::ostringstream os;
  os << "synthetic Gaussian mixture (" << (stream_ == SyntheticStream::train ? "train" : "test")
     << ", " << n_ << " x " << dim_ << ", " << classes_ << " classes, separation " << separation_
     << ", seed " << seed_ << ")";
  return os.str();
}

}  // namespace deeprfm::data
