#include <deeprfm/data/synthetic.hpp>

#include <cmath>
#include <random>
#include <sstream>

#include <deeprfm/base/error.hpp>

namespace deeprfm::data {

namespace {
constexpr std::uint64_t kMeansTag = 0x6d65616e73ULL;   // "means"
constexpr std::uint64_t kSampleTag = 0x73616d706cULL;  // "sampl"

std::uint64_t key_of(std::uint64_t seed, std::uint64_t tag, std::uint64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ tag) ^ index);
}
}  // namespace

SyntheticSource::SyntheticSource(std::int64_t n, int dim, int classes, double separation,
                                 std::uint64_t seed, SyntheticStream stream)
    : n_(n), dim_(dim), classes_(classes), separation_(separation), seed_(seed), stream_(stream) {
  DEEPRFM_CHECK_ABOUT(n >= 1, input, "n",
                      "synthetic data: need at least one sample (n), got " << n);
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
