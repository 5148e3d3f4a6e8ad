#include <deeprfm/data/idx.hpp>

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <deeprfm/base/error.hpp>

namespace deeprfm::data {

namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;
constexpr std::uint32_t kLabelsMagic = 0x00000801;
constexpr std::size_t kStreamBufferBytes = std::size_t(1) << 20;

std::uint32_t big_endian_u32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

std::string hex32(std::uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08x", v);
  return text;
}

bool starts_with_gzip_magic(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char magic[2] = {0, 0};
  const std::size_t got = std::fread(magic, 1, 2, f);
  std::fclose(f);
  return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

}  // namespace

/// A forward byte stream over a plain or gzip file. Plain files seek; gzip files skip by
/// decompressing (zlib's own gzseek does the same) and rewind when asked to go backwards.
class IdxSource::Stream {
 public:
  explicit Stream(const std::string& path) : path_(path) {
    std::error_code ec;
    DEEPRFM_CHECK(std::filesystem::exists(path, ec), input, path << ": no such file");
    DEEPRFM_CHECK(!std::filesystem::is_directory(path, ec), input,
                  path << ": is a directory, expected an IDX file");
    gzip_ = starts_with_gzip_magic(path);
    if (gzip_) {
      gz_ = gzopen(path.c_str(), "rb");
      DEEPRFM_CHECK(gz_ != nullptr, input,
                    path << ": cannot open (" << std::strerror(errno) << ")");
      gzbuffer(gz_, 256 * 1024);
    } else {
      file_ = std::fopen(path.c_str(), "rb");
      DEEPRFM_CHECK(file_ != nullptr, input,
                    path << ": cannot open (" << std::strerror(errno) << ")");
    }
  }
  ~Stream() {
    if (gz_) gzclose(gz_);
    if (file_) std::fclose(file_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool gzip() const { return gzip_; }
  std::int64_t position() const { return position_; }

  /// Read up to `bytes`; returns how many were read (fewer only at the end of the data).
  /// Throws Error(input) on a corrupt gzip stream.
  std::size_t read_some(unsigned char* out, std::size_t bytes) {
    std::size_t done = 0;
    while (done < bytes) {
      const std::size_t want = std::min<std::size_t>(bytes - done, std::size_t(1) << 30);
      std::size_t got = 0;
      if (gzip_) {
        const int rc = gzread(gz_, out + done, static_cast<unsigned>(want));
        if (rc < 0) {
          int code = 0;
          const char* text = gzerror(gz_, &code);
          DEEPRFM_THROW(input, path_ << ": corrupt gzip data (" << (text ? text : "?")
                                     << "): the file is damaged, replace it");
        }
        got = static_cast<std::size_t>(rc);
      } else {
        got = std::fread(out + done, 1, want, file_);
        DEEPRFM_CHECK(!std::ferror(file_), input,
                      path_ << ": read error (" << std::strerror(errno) << ")");
      }
      done += got;
      position_ += static_cast<std::int64_t>(got);
      if (got < want) break;
    }
    return done;
  }

  /// Read exactly `bytes` or throw Error(input) with "truncated <what>".
  void read_exact(unsigned char* out, std::size_t bytes, const char* what) {
    const std::size_t got = read_some(out, bytes);
    DEEPRFM_CHECK(
        got == bytes, input,
        path_ << ": truncated " << what << " (file ends after " << position_ << " bytes of data)");
  }

  /// Position the stream at absolute byte `target` of the (decompressed) data.
  void seek(std::int64_t target, std::vector<unsigned char>& scratch) {
    if (!gzip_) {
      DEEPRFM_CHECK(fseeko(file_, static_cast<off_t>(target), SEEK_SET) == 0, input,
                    path_ << ": seek failed (" << std::strerror(errno) << ")");
      position_ = target;
      return;
    }
    if (target < position_) {
      DEEPRFM_CHECK(gzrewind(gz_) == 0, input, path_ << ": cannot rewind gzip stream");
      position_ = 0;
    }
    if (scratch.size() < kStreamBufferBytes) scratch.resize(kStreamBufferBytes);
    while (position_ < target) {
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::int64_t>(target - position_, scratch.size()));
      const std::size_t got = read_some(scratch.data(), want);
      DEEPRFM_CHECK(got == want, input,
                    path_ << ": truncated data (file ends after " << position_ << " bytes)");
    }
  }

  /// Total size of the (decompressed) data in bytes, leaving the position unchanged. A gzip
  /// stream is decompressed once to its end, so that its CRC-32 and length are checked even
  /// when only a prefix of the samples is used (a corrupt stream throws Error(input) here; a cut
  /// one gives a short size), then rewound.
  std::int64_t data_size(std::vector<unsigned char>& scratch) {
    std::error_code ec;
    const auto raw = static_cast<std::int64_t>(std::filesystem::file_size(path_, ec));
    DEEPRFM_CHECK(!ec, input, path_ << ": cannot stat (" << ec.message() << ")");
    if (!gzip_) return raw;
    const std::int64_t start = position_;
    if (scratch.size() < kStreamBufferBytes) scratch.resize(kStreamBufferBytes);
    for (;;) {
      const std::size_t got = read_some(scratch.data(), scratch.size());
      if (got < scratch.size()) break;
    }
    const std::int64_t total = position_;
    DEEPRFM_CHECK(gzrewind(gz_) == 0, input, path_ << ": cannot rewind gzip stream");
    position_ = 0;
    seek(start, scratch);
    return total;
  }

 private:
  std::string path_;
  bool gzip_ = false;
  gzFile gz_ = nullptr;
  std::FILE* file_ = nullptr;
  std::int64_t position_ = 0;
};

IdxSource::IdxSource(const std::string& images_path, const std::string& labels_path)
    : images_path_(images_path), labels_path_(labels_path) {
  // --- labels: read whole ---
  {
    Stream labels(labels_path);
    unsigned char head[8];
    labels.read_exact(head, 4, "header");
    const std::uint32_t magic = big_endian_u32(head);
    DEEPRFM_CHECK(magic == kLabelsMagic, input,
                  labels_path << ": bad magic " << hex32(magic) << " (expected "
                              << hex32(kLabelsMagic) << ", an IDX uint8 label file)");
    labels.read_exact(head + 4, 4, "header");
    const std::int64_t n = big_endian_u32(head + 4);
    std::vector<unsigned char> bytes(static_cast<std::size_t>(n));
    const std::size_t got = labels.read_some(bytes.data(), bytes.size());
    DEEPRFM_CHECK(got == bytes.size(), input,
                  labels_path << ": truncated data (header promises " << n << " labels, file holds "
                              << got << ")");
    unsigned char extra = 0;
    DEEPRFM_CHECK(labels.read_some(&extra, 1) == 0, input,
                  labels_path << ": file is longer than its header (" << n << " labels) says");
    labels_.assign(bytes.begin(), bytes.end());
  }

  // --- images: validate the header and the data size, keep the stream open ---
  images_ = std::make_unique<Stream>(images_path);
  unsigned char head[16];
  images_->read_exact(head, 4, "header");
  const std::uint32_t magic = big_endian_u32(head);
  DEEPRFM_CHECK(magic == kImagesMagic, input,
                images_path << ": bad magic " << hex32(magic) << " (expected "
                            << hex32(kImagesMagic)
                            << ", an IDX uint8 image file [count, rows, cols])");
  images_->read_exact(head + 4, 12, "header");
  count_ = big_endian_u32(head + 4);
  const std::int64_t rows = big_endian_u32(head + 8);
  const std::int64_t cols = big_endian_u32(head + 12);
  DEEPRFM_CHECK(rows > 0 && cols > 0 && rows * cols <= INT_MAX, input,
                images_path << ": bad image size " << rows << " x " << cols << " in header");
  image_rows_ = static_cast<int>(rows);
  image_cols_ = static_cast<int>(cols);
  dim_ = static_cast<int>(rows * cols);
  const std::int64_t expected = 16 + count_ * dim_;
  const std::int64_t actual = images_->data_size(buffer_);
  DEEPRFM_CHECK(actual >= expected, input,
                images_path << ": truncated data (header promises " << count_ << " images of "
                            << rows << "x" << cols << " = " << expected << " bytes, file holds "
                            << actual << ")");
  DEEPRFM_CHECK(actual == expected, input,
                images_path << ": file is longer (" << actual << " bytes) than its header ("
                            << count_ << " images, " << expected << " bytes) says");
  DEEPRFM_CHECK(static_cast<std::int64_t>(labels_.size()) == count_, input,
                "IDX count mismatch: " << images_path << " holds " << count_ << " images but "
                                       << labels_path << " holds " << labels_.size() << " labels");
  next_row_ = 0;
}

IdxSource::~IdxSource() = default;

void IdxSource::read_rows(std::int64_t first, std::int64_t count, double* out) {
  DEEPRFM_CHECK(first >= 0 && count >= 0 && first + count <= count_, internal,
                "IdxSource::read_rows: rows [" << first << ", " << first + count << ") outside [0, "
                                               << count_ << ")");
  if (count == 0) return;
  if (first != next_row_) images_->seek(16 + first * dim_, buffer_);
  next_row_ = first;
  const std::size_t row_bytes = static_cast<std::size_t>(dim_);
  const std::size_t rows_per_chunk = std::max<std::size_t>(1, kStreamBufferBytes / row_bytes);
  if (buffer_.size() < rows_per_chunk * row_bytes) buffer_.resize(rows_per_chunk * row_bytes);
  std::int64_t done = 0;
  while (done < count) {
    const auto rows = static_cast<std::size_t>(
        std::min<std::int64_t>(count - done, static_cast<std::int64_t>(rows_per_chunk)));
    images_->read_exact(buffer_.data(), rows * row_bytes, "data");
    const std::size_t values = rows * row_bytes;
    double* dst = out + static_cast<std::size_t>(done) * row_bytes;
    for (std::size_t k = 0; k < values; ++k)
      dst[k] = buffer_[k] / 255.0;  // division: correctly rounded
    done += static_cast<std::int64_t>(rows);
    next_row_ += static_cast<std::int64_t>(rows);
  }
}

std::string IdxSource::describe() const {
  std::ostringstream os;
  os << "IDX " << images_path_ << " (" << count_ << " images " << image_rows_ << "x" << image_cols_
     << ")";
  return os.str();
}

std::string find_idx_file(const std::string& dir, const std::string& base) {
  namespace fs = std::filesystem;
  const fs::path gz = fs::path(dir) / (base + ".gz");
  const fs::path plain = fs::path(dir) / base;
  std::error_code ec;
  if (fs::is_regular_file(gz, ec)) return gz.string();
  if (fs::is_regular_file(plain, ec)) return plain.string();
  DEEPRFM_THROW(input, "no IDX file " << gz.string() << " or " << plain.string());
}

std::unique_ptr<SampleSource> open_idx_source(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  return std::make_unique<IdxSource>(images, labels);
}

}  // namespace deeprfm::data
