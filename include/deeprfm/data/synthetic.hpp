#pragma once
/// Synthetic Gaussian-mixture sample source: C class means with i.i.d. N(0, separation^2)
/// entries drawn from the seed; sample i has label i % C and equals its class mean plus
/// standard normal noise. Every sample is generated from (seed, stream, i) alone, so any rank
/// can generate any rows and the data never depend on the number of ranks. The training
/// (stream 0) and test (stream 1) sets share the means and use independent noise.
/// In load_train_test, --n is the training size (0 is an error: there is no 'all'), and the
/// test size is --n-test, or --n when n_test = 0; both sets are used whole.
#include <cstdint>
#include <string>
#include <vector>

#include <deeprfm/base/random.hpp>
#include <deeprfm/data/dataset.hpp>

namespace deeprfm::data {

/// Noise streams of the synthetic generator.
enum class SyntheticStream : std::uint64_t { train = 0, test = 1 };

/// A Gaussian mixture generated on demand. Local; read_rows is const in effect (no state).
class SyntheticSource final : public SampleSource {
 public:
  /// n samples of `dim` features in `classes` classes. Throws Error(input) for n < 1, dim < 1,
  /// classes < 1 or a negative/non-finite separation. Local.
  SyntheticSource(std::int64_t n, int dim, int classes, double separation, std::uint64_t seed,
                  SyntheticStream stream);

  std::int64_t size() const override { return n_; }
  int dim() const override { return dim_; }
  const std::vector<int>& labels() const override { return labels_; }
  /// Generate samples [first, first + count). Local.
  void read_rows(std::int64_t first, std::int64_t count, double* out) override;
  std::string describe() const override;

  /// The class means, row-major classes x dim. Local.
  const std::vector<double>& means() const { return means_; }

 private:
  std::int64_t n_;
  int dim_;
  int classes_;
  double separation_;
  std::uint64_t seed_;
  SyntheticStream stream_;
  std::vector<double> means_;
  std::vector<int> labels_;
};

}  // namespace deeprfm::data
