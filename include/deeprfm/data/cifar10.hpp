#pragma once
/// CIFAR-10 binary-version sample source: records of 1 label byte + 3072 pixel bytes (the
/// 32x32 red plane, then green, then blue), 10000 records per batch file.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <deeprfm/data/dataset.hpp>

namespace deeprfm::data {

/// Bytes per CIFAR-10 record and features per sample.
inline constexpr int kCifarPixels = 3072;
inline constexpr int kCifarRecordBytes = 1 + kCifarPixels;

/// The records of one or more batch files, concatenated in the given order. Features are the
/// 3072 pixel bytes in file order (channel-major: R plane, G plane, B plane) scaled by 1/255.
/// Labels are read when the source is opened; pixels are read by read_rows. Local; the object is
/// not thread-safe.
class CifarSource final : public SampleSource {
 public:
  /// Open and validate every file: existence, size a positive multiple of 3073 bytes, every
  /// label < 10. Throws Error(input) naming the file and the problem. Local.
  explicit CifarSource(std::vector<std::string> batch_files);
  ~CifarSource() override;
  CifarSource(const CifarSource&) = delete;
  CifarSource& operator=(const CifarSource&) = delete;

  std::int64_t size() const override { return count_; }
  int dim() const override { return kCifarPixels; }
  const std::vector<int>& labels() const override { return labels_; }
  /// Read records [first, first + count) (across batch boundaries). Local.
  void read_rows(std::int64_t first, std::int64_t count, double* out) override;
  std::string describe() const override;

 private:
  std::vector<std::string> files_;
  std::vector<std::int64_t> file_first_;  ///< first record of each file; back() = count_
  std::vector<int> labels_;
  std::int64_t count_ = 0;
  std::vector<std::FILE*> handles_;
  std::vector<unsigned char> buffer_;
};

/// Open the training (data_batch_1..5.bin) or test (test_batch.bin) records of a CIFAR-10
/// folder; the folder may also be the parent of "cifar-10-batches-bin". Throws Error(input)
/// naming the missing batch files. Local.
std::unique_ptr<SampleSource> open_cifar10_source(const std::string& dir, bool train);

}  // namespace deeprfm::data
