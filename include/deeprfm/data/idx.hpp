#pragma once
/// IDX sample source (MNIST / Fashion-MNIST): an image file (magic 0x00000803, uint8,
/// [count, rows, cols]) and a label file (magic 0x00000801, uint8, [count]), each plain or
/// gzip-compressed (detected from the magic bytes 1f 8b, not from the name).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <deeprfm/data/dataset.hpp>

namespace deeprfm::data {

/// Images and labels of one IDX pair. Pixels are scaled by 1/255. The label file is read whole
/// when the source is opened (one byte per sample); the image file is streamed by read_rows and
/// never held whole. Reads are local; the object is not thread-safe.
class IdxSource final : public SampleSource {
 public:
  /// Open and validate both files: existence, magic, header, data size against the header
  /// (for gzip: the trailer's size field, with a full streaming pass only when it disagrees),
  /// and equal sample counts. Throws Error(input) naming the file and the problem. Local.
  IdxSource(const std::string& images_path, const std::string& labels_path);
  ~IdxSource() override;
  IdxSource(const IdxSource&) = delete;
  IdxSource& operator=(const IdxSource&) = delete;

  std::int64_t size() const override { return count_; }
  int dim() const override { return dim_; }
  const std::vector<int>& labels() const override { return labels_; }
  /// Read images [first, first + count) scaled to [0,1]. Streams forward from the current
  /// position (a gzip file is rewound only when reading backwards). Local.
  void read_rows(std::int64_t first, std::int64_t count, double* out) override;
  std::string describe() const override;

  /// Image height and width from the header. Local.
  int image_rows() const { return image_rows_; }
  int image_cols() const { return image_cols_; }

 private:
  class Stream;  // plain (stdio) or gzip (zlib) byte stream with forward skipping
  std::string images_path_;
  std::string labels_path_;
  std::unique_ptr<Stream> images_;
  std::int64_t count_ = 0;
  int dim_ = 0;
  int image_rows_ = 0;
  int image_cols_ = 0;
  std::int64_t next_row_ = 0;  ///< sample the image stream is positioned at
  std::vector<int> labels_;
  std::vector<unsigned char> buffer_;
};

/// The file `<dir>/<base>.gz` if it exists, else `<dir>/<base>`; throws Error(input) naming
/// both candidates when neither exists. Local.
std::string find_idx_file(const std::string& dir, const std::string& base);

/// Open the training ("train-*") or test ("t10k-*") pair of an MNIST-layout folder. Local.
std::unique_ptr<SampleSource> open_idx_source(const std::string& dir, bool train);

/// Default folder of the Fashion-MNIST files on this system.
inline constexpr const char* kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";

}  // namespace deeprfm::data
