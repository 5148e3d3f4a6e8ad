#include <deeprfm/data/npy.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <deeprfm/base/error.hpp>

namespace deeprfm::data {

namespace {

constexpr std::size_t kReadBufferBytes = std::size_t(1) << 20;

bool host_is_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

/// Little-endian unsigned integer of `bytes` bytes (portable on any host).
std::uint64_t load_le(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int b = bytes - 1; b >= 0; --b) v = (v << 8) | p[b];
  return v;
}

template <class Signed, class Unsigned>
double as_signed(std::uint64_t raw) {
  const auto u = static_cast<Unsigned>(raw);
  Signed s;
  std::memcpy(&s, &u, sizeof(s));
  return static_cast<double>(s);
}

/// Convert `count` little-endian elements of `type` to double.
void convert(const unsigned char* src, std::size_t count, NpyType type, int item_bytes,
             double* dst) {
  switch (type) {
    case NpyType::f8:
      for (std::size_t k = 0; k < count; ++k) {
        const std::uint64_t raw = load_le(src + k * 8, 8);
        double v;
        std::memcpy(&v, &raw, 8);
        dst[k] = v;
      }
      return;
    case NpyType::f4:
      for (std::size_t k = 0; k < count; ++k) {
        const auto raw = static_cast<std::uint32_t>(load_le(src + k * 4, 4));
        float v;
        std::memcpy(&v, &raw, 4);
        dst[k] = v;
      }
      return;
    case NpyType::i8:
      for (std::size_t k = 0; k < count; ++k)
        dst[k] = as_signed<std::int64_t, std::uint64_t>(load_le(src + k * 8, 8));
      return;
    case NpyType::i4:
      for (std::size_t k = 0; k < count; ++k)
        dst[k] = as_signed<std::int32_t, std::uint32_t>(load_le(src + k * 4, 4));
      return;
    case NpyType::i2:
      for (std::size_t k = 0; k < count; ++k)
        dst[k] = as_signed<std::int16_t, std::uint16_t>(load_le(src + k * 2, 2));
      return;
    case NpyType::i1:
      for (std::size_t k = 0; k < count; ++k) dst[k] = as_signed<std::int8_t, std::uint8_t>(src[k]);
      return;
    case NpyType::u8:
    case NpyType::u4:
    case NpyType::u2:
    case NpyType::u1:
      for (std::size_t k = 0; k < count; ++k)
        dst[k] = static_cast<double>(load_le(src + k * item_bytes, item_bytes));
      return;
  }
}

/// Position just after "'key':" in the header dictionary, or npos.
std::size_t value_of(const std::string& dict, const std::string& key) {
  for (const char q : {'\'', '"'}) {
    const std::string quoted = std::string(1, q) + key + std::string(1, q);
    std::size_t pos = dict.find(quoted);
    if (pos == std::string::npos) continue;
    pos += quoted.size();
    while (pos < dict.size() && std::isspace(static_cast<unsigned char>(dict[pos]))) ++pos;
    if (pos < dict.size() && dict[pos] == ':') {
      ++pos;
      while (pos < dict.size() && std::isspace(static_cast<unsigned char>(dict[pos]))) ++pos;
      return pos;
    }
  }
  return std::string::npos;
}

}  // namespace

std::int64_t NpyHeader::elements() const {
  std::int64_t n = 1;
  for (std::int64_t s : shape) n *= s;
  return n;
}

NpyHeader read_npy_header(const std::string& path) {
  std::error_code ec;
  DEEPRFM_CHECK(std::filesystem::is_regular_file(path, ec), input, path << ": no such file");
  const auto file_bytes = static_cast<std::int64_t>(std::filesystem::file_size(path, ec));
  DEEPRFM_CHECK(!ec, input, path << ": cannot stat (" << ec.message() << ")");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  DEEPRFM_CHECK(f != nullptr, input, path << ": cannot open (" << std::strerror(errno) << ")");
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};

  unsigned char pre[12];
  const std::size_t got = std::fread(pre, 1, 10, f);
  DEEPRFM_CHECK(got >= 6 && std::memcmp(pre, "\x93NUMPY", 6) == 0, input,
                path << ": bad magic (not a .npy file)");
  DEEPRFM_CHECK(got == 10, input, path << ": truncated header");
  NpyHeader h;
  h.version_major = pre[6];
  DEEPRFM_CHECK(h.version_major >= 1 && h.version_major <= 3, input,
                path << ": unsupported .npy format version " << int(pre[6]) << "." << int(pre[7]));
  std::int64_t header_len = 0;
  std::int64_t prefix = 10;
  if (h.version_major == 1) {
    header_len = static_cast<std::int64_t>(load_le(pre + 8, 2));
  } else {
    DEEPRFM_CHECK(std::fread(pre + 10, 1, 2, f) == 2, input, path << ": truncated header");
    header_len = static_cast<std::int64_t>(load_le(pre + 8, 4));
    prefix = 12;
  }
  DEEPRFM_CHECK(prefix + header_len <= file_bytes, input,
                path << ": truncated header (" << header_len << " header bytes announced, file has "
                     << file_bytes << " bytes)");
  std::string dict(static_cast<std::size_t>(header_len), '\0');
  DEEPRFM_CHECK(std::fread(dict.data(), 1, dict.size(), f) == dict.size(), input,
                path << ": truncated header");
  h.data_offset = prefix + header_len;

  // descr
  std::size_t pos = value_of(dict, "descr");
  DEEPRFM_CHECK(pos != std::string::npos, input, path << ": header has no 'descr'");
  DEEPRFM_CHECK(dict[pos] == '\'' || dict[pos] == '"', input,
                path << ": structured dtypes are not supported (need a plain numeric array)");
  const std::size_t close = dict.find(dict[pos], pos + 1);
  DEEPRFM_CHECK(close != std::string::npos, input, path << ": malformed header dictionary");
  h.descr = dict.substr(pos + 1, close - pos - 1);
  DEEPRFM_CHECK(h.descr.size() >= 3, input, path << ": unsupported dtype '" << h.descr << "'");
  const char order = h.descr[0];
  const std::string code = h.descr.substr(1);
  DEEPRFM_CHECK(order != '>', input,
                path << ": big-endian dtype '" << h.descr
                     << "' is not supported; save the array as little-endian "
                        "(numpy: a.astype(a.dtype.newbyteorder('<')))");
  DEEPRFM_CHECK(order == '<' || order == '|' || (order == '=' && host_is_little_endian()), input,
                path << ": unsupported dtype '" << h.descr << "'");
  struct Known {
    const char* code;
    NpyType type;
    int bytes;
  };
  static const Known known[] = {{"f8", NpyType::f8, 8}, {"f4", NpyType::f4, 4},
                                {"i8", NpyType::i8, 8}, {"i4", NpyType::i4, 4},
                                {"i2", NpyType::i2, 2}, {"i1", NpyType::i1, 1},
                                {"u8", NpyType::u8, 8}, {"u4", NpyType::u4, 4},
                                {"u2", NpyType::u2, 2}, {"u1", NpyType::u1, 1}};
  bool found = false;
  for (const auto& k : known) {
    if (code == k.code) {
      h.type = k.type;
      h.item_bytes = k.bytes;
      found = true;
    }
  }
  DEEPRFM_CHECK(found, input,
                path << ": unsupported dtype '" << h.descr
                     << "' (supported: <f8 <f4 <i8 <i4 <i2 |i1 <u8 <u4 <u2 |u1)");
  DEEPRFM_CHECK(order != '|' || h.item_bytes == 1, input,
                path << ": malformed dtype '" << h.descr << "'");

  // fortran_order
  pos = value_of(dict, "fortran_order");
  DEEPRFM_CHECK(pos != std::string::npos, input, path << ": header has no 'fortran_order'");
  if (dict.compare(pos, 4, "True") == 0)
    h.fortran_order = true;
  else
    DEEPRFM_CHECK(dict.compare(pos, 5, "False") == 0, input,
                  path << ": malformed 'fortran_order' in header");

  // shape
  pos = value_of(dict, "shape");
  DEEPRFM_CHECK(pos != std::string::npos && dict[pos] == '(', input,
                path << ": header has no 'shape' tuple");
  const std::size_t end = dict.find(')', pos);
  DEEPRFM_CHECK(end != std::string::npos, input, path << ": malformed 'shape' in header");
  {
    std::string inner = dict.substr(pos + 1, end - pos - 1);
    std::size_t p = 0;
    while (p < inner.size()) {
      while (p < inner.size() &&
             (std::isspace(static_cast<unsigned char>(inner[p])) || inner[p] == ','))
        ++p;
      if (p >= inner.size()) break;
      DEEPRFM_CHECK(std::isdigit(static_cast<unsigned char>(inner[p])), input,
                    path << ": malformed 'shape' in header");
      std::int64_t v = 0;
      while (p < inner.size() && std::isdigit(static_cast<unsigned char>(inner[p]))) {
        DEEPRFM_CHECK(v < (std::int64_t(1) << 52), input, path << ": absurd shape in header");
        v = v * 10 + (inner[p] - '0');
        ++p;
      }
      // Python 2 long suffix
      if (p < inner.size() && (inner[p] == 'L' || inner[p] == 'l')) ++p;
      h.shape.push_back(v);
    }
  }
  // Size check (overflow-safe): data bytes must be exactly what the shape promises.
  const std::int64_t data_bytes = file_bytes - h.data_offset;
  long double promised = h.item_bytes;
  for (std::int64_t s : h.shape) promised *= static_cast<long double>(s);
  DEEPRFM_CHECK(promised <= static_cast<long double>(data_bytes), input,
                path << ": truncated data (shape promises " << static_cast<double>(promised)
                     << " bytes of '" << h.descr << "', file holds " << data_bytes << ")");
  DEEPRFM_CHECK(promised == static_cast<long double>(data_bytes), input,
                path << ": file is longer (" << data_bytes << " data bytes) than its header ("
                     << static_cast<double>(promised) << " bytes) says");
  return h;
}

std::string labels_file_for(const std::string& x_path, const std::string& explicit_labels,
                            const std::string& x_name, const std::string& y_name) {
  if (!explicit_labels.empty()) return explicit_labels;
  namespace fs = std::filesystem;
  const fs::path p(x_path);
  std::string stem = p.stem().string();
  const std::string x_suffix = "_" + x_name;
  if (!x_name.empty() && stem.size() > x_suffix.size() &&
      stem.compare(stem.size() - x_suffix.size(), x_suffix.size(), x_suffix) == 0)
    stem.resize(stem.size() - x_suffix.size());
  return (p.parent_path() / (stem + "_" + y_name + ".npy")).string();
}

NpySource::NpySource(const std::string& x_path, const std::string& y_path, bool real_targets)
    : x_path_(x_path), y_path_(y_path) {
  header_ = read_npy_header(x_path);
  DEEPRFM_CHECK(header_.shape.size() >= 2, input,
                x_path << ": samples must be an array of shape (n, d) or (n, h, w, ...), got "
                       << header_.shape.size() << " dimension(s)");
  count_ = header_.shape[0];
  DEEPRFM_CHECK(count_ > 0, input, x_path << ": no samples (shape[0] = 0)");
  std::int64_t d = 1;
  for (std::size_t k = 1; k < header_.shape.size(); ++k) d *= header_.shape[k];
  DEEPRFM_CHECK(d > 0 && d <= INT_MAX, input, x_path << ": bad feature count " << d);
  dim_ = static_cast<int>(d);

  // Labels (or real targets): read whole.
  const NpyHeader yh = read_npy_header(y_path);
  const bool column = yh.shape.size() == 2 && yh.shape[1] == 1;
  if (real_targets) {
    DEEPRFM_CHECK(yh.shape.size() == 1 || (yh.shape.size() == 2 && yh.shape[1] >= 1), input,
                  y_path << ": regression targets must be an array of shape (n,) or (n, k)");
    DEEPRFM_CHECK(!yh.fortran_order || yh.shape.size() == 1 || yh.shape[1] == 1, input,
                  y_path << ": regression targets must be stored in C order");
  } else {
    DEEPRFM_CHECK(yh.shape.size() == 1 || column, input,
                  y_path << ": labels must be an array of shape (n,) or (n, 1)");
  }
  DEEPRFM_CHECK(yh.shape[0] == count_, input,
                "npy count mismatch: " << x_path << " holds " << count_ << " samples but " << y_path
                                       << " holds " << yh.shape[0] << " labels");
  {
    std::FILE* yf = std::fopen(y_path.c_str(), "rb");
    DEEPRFM_CHECK(yf != nullptr, input, y_path << ": cannot open (" << std::strerror(errno) << ")");
    const std::int64_t k = yh.shape.size() == 2 ? yh.shape[1] : 1;
    std::vector<unsigned char> raw(static_cast<std::size_t>(count_ * k) * yh.item_bytes);
    const bool ok = fseeko(yf, static_cast<off_t>(yh.data_offset), SEEK_SET) == 0 &&
                    std::fread(raw.data(), 1, raw.size(), yf) == raw.size();
    std::fclose(yf);
    DEEPRFM_CHECK(ok, input, y_path << ": read error");
    std::vector<double> values(static_cast<std::size_t>(count_ * k));
    convert(raw.data(), values.size(), yh.type, yh.item_bytes, values.data());
    if (real_targets) {
      for (std::size_t i = 0; i < values.size(); ++i)
        DEEPRFM_CHECK(std::isfinite(values[i]), input,
                      y_path << ": target " << i % k << " of sample " << i / k << " is "
                             << values[i] << " (not finite)");
      targets_ = std::move(values);
      target_columns_ = static_cast<int>(k);
      values.assign(static_cast<std::size_t>(count_), 0.0);  // labels: all 0
    }
    labels_.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double v = values[i];
      DEEPRFM_CHECK(std::isfinite(v) && v == std::floor(v) && v >= INT_MIN && v <= INT_MAX, input,
                    y_path << ": label of sample " << i << " is " << v << ", not an integer");
      labels_[i] = static_cast<int>(v);
    }
  }

  if (header_.fortran_order) {
    // C-order feature f = multi-index (a_1..a_m) over shape[1:]; its Fortran column (the index
    // of the contiguous length-n run) is a_1 + s_1 (a_2 + s_2 (...)).
    const std::size_t m = header_.shape.size() - 1;
    fortran_column_.resize(static_cast<std::size_t>(dim_));
    std::vector<std::int64_t> index(m, 0);
    for (std::int64_t f = 0; f < dim_; ++f) {
      std::int64_t col = 0;
      for (std::size_t k = m; k-- > 0;) col = col * header_.shape[k + 1] + index[k];
      fortran_column_[static_cast<std::size_t>(f)] = col;
      for (std::size_t k = m; k-- > 0;) {  // C-order increment
        if (++index[k] < header_.shape[k + 1]) break;
        index[k] = 0;
      }
    }
  }
  file_ = std::fopen(x_path.c_str(), "rb");
  DEEPRFM_CHECK(file_ != nullptr, input,
                x_path << ": cannot open (" << std::strerror(errno) << ")");
}

NpySource::~NpySource() {
  if (file_) std::fclose(file_);
}

void NpySource::read_rows(std::int64_t first, std::int64_t count, double* out) {
  DEEPRFM_CHECK(first >= 0 && count >= 0 && first + count <= count_, internal,
                "NpySource::read_rows: rows [" << first << ", " << first + count << ") outside [0, "
                                               << count_ << ")");
  if (count == 0) return;
  const int isz = header_.item_bytes;
  auto read_at = [&](std::int64_t element, std::size_t bytes) {
    const std::int64_t offset = header_.data_offset + element * isz;
    DEEPRFM_CHECK(fseeko(file_, static_cast<off_t>(offset), SEEK_SET) == 0 &&
                      std::fread(buffer_.data(), 1, bytes, file_) == bytes,
                  input, x_path_ << ": read error at byte " << offset);
  };
  if (!header_.fortran_order) {
    const std::size_t row_bytes = static_cast<std::size_t>(dim_) * isz;
    const std::int64_t per_read =
        std::max<std::int64_t>(1, static_cast<std::int64_t>(kReadBufferBytes / row_bytes));
    buffer_.resize(static_cast<std::size_t>(std::min(per_read, count)) * row_bytes);
    for (std::int64_t done = 0; done < count;) {
      const std::int64_t rows = std::min(per_read, count - done);
      read_at((first + done) * dim_, static_cast<std::size_t>(rows) * row_bytes);
      convert(buffer_.data(), static_cast<std::size_t>(rows) * dim_, header_.type, isz,
              out + static_cast<std::size_t>(done) * dim_);
      done += rows;
    }
    return;
  }
  // Fortran order: each feature is a contiguous run of n values; read our slice of each.
  buffer_.resize(static_cast<std::size_t>(count) * isz);
  std::vector<double> column(static_cast<std::size_t>(count));
  for (int f = 0; f < dim_; ++f) {
    read_at(fortran_column_[static_cast<std::size_t>(f)] * count_ + first,
            static_cast<std::size_t>(count) * isz);
    convert(buffer_.data(), column.size(), header_.type, isz, column.data());
    for (std::int64_t r = 0; r < count; ++r)
      out[static_cast<std::size_t>(r) * dim_ + f] = column[static_cast<std::size_t>(r)];
  }
}

std::string NpySource::describe() const {
  std::ostringstream os;
  os << "NPY " << x_path_ << " (" << count_ << " x " << dim_ << " " << header_.descr
     << (header_.fortran_order ? ", Fortran order" : "") << ") labels " << y_path_;
  return os.str();
}

}  // namespace deeprfm::data
