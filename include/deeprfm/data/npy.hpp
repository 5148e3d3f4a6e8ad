#pragma once
/// NumPy .npy sample source (format versions 1.0, 2.0, 3.0).
///
/// Samples come from one .npy file X of shape (n, d) or (n, h, w, ...) (flattened in C order to
/// d = h*w*... features, whatever the storage order), labels from a second .npy file y of shape
/// (n,) or (n, 1). Values are used as stored (no pixel scaling).
///
/// Labels-file rule (DataOptions::train_labels_file / test_labels_file, see labels_file_for):
///   1. the labels file given explicitly, if any;
///   2. otherwise derived from the X file name and the option y_name (default "y"): a stem that
///      ends in "_<x_name>" has that suffix replaced by "_<y_name>", any other stem gets
///      "_<y_name>" appended:  train_X.npy -> train_y.npy,  train.npy -> train_y.npy.
///
/// Supported dtypes: <f8 <f4 <i8 <i4 <i2 |i1 <u8 <u4 <u2 |u1 (little-endian or
/// byte-order-free; '=' is accepted on little-endian hosts). Big-endian data, structured dtypes
/// and object arrays are rejected with Error(input). Fortran-ordered arrays are supported.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <deeprfm/data/dataset.hpp>

namespace deeprfm::data {

/// Element type of a .npy array.
enum class NpyType { f8, f4, i8, i4, i2, i1, u8, u4, u2, u1 };

/// The parsed header of a .npy file. Local (pure data).
struct NpyHeader {
  std::string descr;  ///< as written, e.g. "<f8"
  NpyType type = NpyType::f8;
  int item_bytes = 8;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;  ///< () for a scalar
  std::int64_t data_offset = 0;     ///< bytes before the array data
  int version_major = 1;
  /// Number of elements (product of the shape). Local.
  std::int64_t elements() const;
};

/// Read and validate the header of a .npy file: magic, version, header dictionary, dtype
/// (rejects big-endian and unsupported types), and that the file holds exactly the bytes the
/// shape promises. Throws Error(input) naming the file and the problem. Local.
NpyHeader read_npy_header(const std::string& path);

/// The labels file for the X file `x_path` under the rule above (explicit wins). Local (pure).
std::string labels_file_for(const std::string& x_path, const std::string& explicit_labels,
                            const std::string& x_name, const std::string& y_name);

/// Samples of a .npy X file with labels from a .npy y file. Labels are read when the source is
/// opened; samples by read_rows. Local; the object is not thread-safe.
class NpySource final : public SampleSource {
 public:
  /// Open and validate both files; labels must be integers (an integer dtype, or a floating
  /// dtype holding integral values) and as many as X has rows. Throws Error(input). Local.
  /// With `real_targets` (regression), y holds real values of shape (n,) or (n, k), any
  /// numeric dtype, finite; labels() are then all 0.
  NpySource(const std::string& x_path, const std::string& y_path, bool real_targets = false);
  ~NpySource() override;
  NpySource(const NpySource&) = delete;
  NpySource& operator=(const NpySource&) = delete;

  std::int64_t size() const override { return count_; }
  int dim() const override { return dim_; }
  const std::vector<int>& labels() const override { return labels_; }
  const std::vector<double>& targets() const override { return targets_; }
  int target_columns() const override { return target_columns_; }
  /// Read rows [first, first + count) converted to double, values as stored. Local.
  void read_rows(std::int64_t first, std::int64_t count, double* out) override;
  std::string describe() const override;

 private:
  std::string x_path_;
  std::string y_path_;
  NpyHeader header_;
  std::int64_t count_ = 0;
  int dim_ = 0;
  std::vector<int> labels_;
  std::vector<double> targets_;
  int target_columns_ = 0;
  std::vector<std::int64_t> fortran_column_;  ///< C-order feature -> Fortran column (if needed)
  std::FILE* file_ = nullptr;
  std::vector<unsigned char> buffer_;
};

}  // namespace deeprfm::data
