#pragma once
// Writers of small data files for the data-module tests: IDX (plain or gzip), .npy (any
// supported dtype, with knobs to produce broken files) and CIFAR-10 batches. Local.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace deeprfm::test {

inline void write_bytes(const std::filesystem::path& path, const std::vector<unsigned char>& bytes,
                        bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.string().c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + path.string());
    if (!bytes.empty()) gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  }
}

inline std::vector<unsigned char> read_bytes(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(f), {});
}

inline void put_be32(std::vector<unsigned char>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
}

/// Pixel p of IDX image k in the generated files (and in tests/data/idx-tiny, offset 0 / 101).
inline unsigned char idx_pixel(std::int64_t k, int p, int offset = 0) {
  return static_cast<unsigned char>((37 * k + 11 * p + offset) % 256);
}

/// IDX image bytes: header [count, rows, cols] + pixels idx_pixel(k, p); `magic` overridable.
inline std::vector<unsigned char> idx_images(std::uint32_t count, std::uint32_t rows,
                                             std::uint32_t cols, std::uint32_t magic = 0x00000803) {
  std::vector<unsigned char> out;
  put_be32(out, magic);
  put_be32(out, count);
  put_be32(out, rows);
  put_be32(out, cols);
  for (std::uint32_t k = 0; k < count; ++k)
    for (std::uint32_t p = 0; p < rows * cols; ++p)
      out.push_back(idx_pixel(k, static_cast<int>(p)));
  return out;
}

/// IDX label bytes: label of sample k = labels[k].
inline std::vector<unsigned char> idx_labels(const std::vector<int>& labels,
                                             std::uint32_t magic = 0x00000801) {
  std::vector<unsigned char> out;
  put_be32(out, magic);
  put_be32(out, static_cast<std::uint32_t>(labels.size()));
  for (int y : labels) out.push_back(static_cast<unsigned char>(y));
  return out;
}

/// A .npy file (format 1.0 unless `version` says otherwise) with the given descr, shape and
/// raw little-endian payload; `payload_trim` bytes are cut off the end (truncated data).
inline void write_npy(const std::filesystem::path& path, const std::string& descr,
                      const std::vector<std::int64_t>& shape, const void* payload,
                      std::size_t payload_bytes, bool fortran = false, int version = 1,
                      std::size_t payload_trim = 0) {
  std::string shape_text = "(";
  for (std::size_t k = 0; k < shape.size(); ++k)
    shape_text += (k ? ", " : "") + std::to_string(shape[k]);
  if (shape.size() == 1) shape_text += ",";
  shape_text += ")";
  std::string header = "{'descr': '" + descr +
                       "', 'fortran_order': " + (fortran ? "True" : "False") +
                       ", 'shape': " + shape_text + ", }";
  const std::size_t prefix = version == 1 ? 10 : 12;
  const std::size_t total = prefix + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::vector<unsigned char> out = {
      0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<unsigned char>(version), 0};
  const std::size_t len = header.size();
  out.push_back(static_cast<unsigned char>(len & 0xff));
  out.push_back(static_cast<unsigned char>((len >> 8) & 0xff));
  if (version != 1) {
    out.push_back(static_cast<unsigned char>((len >> 16) & 0xff));
    out.push_back(static_cast<unsigned char>((len >> 24) & 0xff));
  }
  out.insert(out.end(), header.begin(), header.end());
  const auto* p = static_cast<const unsigned char*>(payload);
  out.insert(out.end(), p, p + (payload_bytes - payload_trim));
  write_bytes(path, out, false);
}

template <class T>
void write_npy_array(const std::filesystem::path& path, const std::string& descr,
                     const std::vector<std::int64_t>& shape, const std::vector<T>& values,
                     bool fortran = false, int version = 1) {
  write_npy(path, descr, shape, values.data(), values.size() * sizeof(T), fortran, version);
}

/// A CIFAR-10 batch of `count` records: label labels[k], pixel p = idx_pixel(first + k, p).
inline void write_cifar_batch(const std::filesystem::path& path, std::int64_t first,
                              const std::vector<int>& labels) {
  std::vector<unsigned char> out;
  for (std::size_t k = 0; k < labels.size(); ++k) {
    out.push_back(static_cast<unsigned char>(labels[k]));
    for (int p = 0; p < 3072; ++p)
      out.push_back(idx_pixel(first + static_cast<std::int64_t>(k), p));
  }
  write_bytes(path, out, false);
}

}  // namespace deeprfm::test
