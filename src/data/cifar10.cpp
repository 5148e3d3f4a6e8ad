#include <deeprfm/data/cifar10.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <deeprfm/base/error.hpp>

namespace deeprfm::data {

namespace {
constexpr int kCifarClasses = 10;
constexpr std::size_t kReadBufferBytes = std::size_t(1) << 20;
}  // namespace

CifarSource::CifarSource(std::vector<std::string> batch_files) : files_(std::move(batch_files)) {
  DEEPRFM_CHECK(!files_.empty(), input, "CIFAR-10: no batch files given");
  file_first_.push_back(0);
  // The destructor does not run when the constructor throws: close what was opened.
  try {
    for (const std::string& path : files_) {
      std::error_code ec;
      DEEPRFM_CHECK(std::filesystem::is_regular_file(path, ec), input, path << ": no such file");
      const auto bytes = static_cast<std::int64_t>(std::filesystem::file_size(path, ec));
      DEEPRFM_CHECK(!ec, input, path << ": cannot stat (" << ec.message() << ")");
      DEEPRFM_CHECK(bytes > 0 && bytes % kCifarRecordBytes == 0, input,
                    path << ": size " << bytes << " bytes is not a positive multiple of the "
                         << kCifarRecordBytes << "-byte CIFAR-10 record (truncated or not a "
                         << "CIFAR-10 binary batch)");
      std::FILE* f = std::fopen(path.c_str(), "rb");
      DEEPRFM_CHECK(f != nullptr, input, path << ": cannot open (" << std::strerror(errno) << ")");
      handles_.push_back(f);
      const std::int64_t records = bytes / kCifarRecordBytes;
      // Labels: one byte every 3073; read a run of whole records at a time (sequential I/O).
      const std::int64_t per_read = std::max<std::int64_t>(
          1, static_cast<std::int64_t>(kReadBufferBytes) / kCifarRecordBytes);
      buffer_.resize(static_cast<std::size_t>(per_read) * kCifarRecordBytes);
      for (std::int64_t r = 0; r < records; r += per_read) {
        const std::int64_t n = std::min(per_read, records - r);
        const std::size_t want = static_cast<std::size_t>(n) * kCifarRecordBytes;
        DEEPRFM_CHECK(std::fread(buffer_.data(), 1, want, f) == want, input,
                      path << ": read error at record " << r);
        for (std::int64_t k = 0; k < n; ++k) {
          const int label = buffer_[static_cast<std::size_t>(k) * kCifarRecordBytes];
          DEEPRFM_CHECK(label < kCifarClasses, input,
                        path << ": record " << r + k << " has label " << label
                             << ", outside [0, 10) (not a CIFAR-10 batch?)");
          labels_.push_back(label);
        }
      }
      count_ += records;
      file_first_.push_back(count_);
    }

  } catch (...) {
    for (std::FILE* f : handles_)
      if (f) std::fclose(f);
    handles_.clear();
    throw;
  }
}

CifarSource::~CifarSource() {
  for (std::FILE* f : handles_)
    if (f) std::fclose(f);
}

void CifarSource::read_rows(std::int64_t first, std::int64_t count, double* out) {
  DEEPRFM_CHECK(first >= 0 && count >= 0 && first + count <= count_, internal,
                "CifarSource::read_rows: rows [" << first << ", " << first + count
                                                 << ") outside [0, " << count_ << ")");
  const std::int64_t per_read =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(kReadBufferBytes) / kCifarRecordBytes);
  buffer_.resize(static_cast<std::size_t>(per_read) * kCifarRecordBytes);
  std::int64_t row = first;
  const std::int64_t end = first + count;
  while (row < end) {
    const auto it = std::upper_bound(file_first_.begin(), file_first_.end(), row);
    const std::size_t file = static_cast<std::size_t>(it - file_first_.begin()) - 1;
    const std::int64_t local = row - file_first_[file];
    const std::int64_t n = std::min({per_read, end - row, file_first_[file + 1] - row});
    std::FILE* f = handles_[file];
    const std::size_t want = static_cast<std::size_t>(n) * kCifarRecordBytes;
    DEEPRFM_CHECK(fseeko(f, static_cast<off_t>(local * kCifarRecordBytes), SEEK_SET) == 0 &&
                      std::fread(buffer_.data(), 1, want, f) == want,
                  input, files_[file] << ": read error at record " << local);
    for (std::int64_t k = 0; k < n; ++k) {
      const unsigned char* src =
          buffer_.data() + static_cast<std::size_t>(k) * kCifarRecordBytes + 1;
      double* dst = out + static_cast<std::size_t>(row - first + k) * kCifarPixels;
      for (int j = 0; j < kCifarPixels; ++j)
        dst[j] = src[j] / 255.0;  // division: correctly rounded
    }
    row += n;
  }
}

std::string CifarSource::describe() const {
  std::ostringstream os;
  os << "CIFAR-10 "
     << (files_.size() == 1 ? files_.front() : files_.front() + " .. " + files_.back()) << " ("
     << count_ << " images 3x32x32)";
  return os.str();
}

std::unique_ptr<SampleSource> open_cifar10_source(const std::string& dir, bool train) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  if (train) {
    for (int b = 1; b <= 5; ++b) names.push_back("data_batch_" + std::to_string(b) + ".bin");
  } else {
    names.push_back("test_batch.bin");
  }
  std::error_code ec;
  fs::path base(dir);
  if (!fs::is_regular_file(base / names.front(), ec) &&
      fs::is_regular_file(base / "cifar-10-batches-bin" / names.front(), ec))
    base /= "cifar-10-batches-bin";
  std::vector<std::string> files;
  std::string missing;
  for (const auto& name : names) {
    const fs::path p = base / name;
    if (fs::is_regular_file(p, ec))
      files.push_back(p.string());
    else
      missing += (missing.empty() ? "" : ", ") + name;
  }
  DEEPRFM_CHECK(missing.empty(), input,
                "CIFAR-10: missing " << (train ? "training" : "test") << " batch file(s) "
                                     << missing << " in " << base.string());
  return std::make_unique<CifarSource>(std::move(files));
}

}  // namespace deeprfm::data
