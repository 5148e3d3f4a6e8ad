// The sample sources (IDX plain/gzip, CIFAR-10, NPY, synthetic), the class-balanced selection
// and every malformed-input path, on small files the tests write into a temporary folder plus
// the tiny committed fixtures in tests/data (made by tests/data/make_fixtures.py). Serial.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <deeprfm/base/error.hpp>
#include <deeprfm/data/cifar10.hpp>
#include <deeprfm/data/dataset.hpp>
#include <deeprfm/data/idx.hpp>
#include <deeprfm/data/npy.hpp>
#include <deeprfm/data/synthetic.hpp>

#include "test_data_fixtures.hpp"
#include "test_helpers.hpp"

using namespace deeprfm;
namespace fs = std::filesystem;

namespace {

/// The message of the Error(input) that `body` throws; a failure note if it throws nothing or
/// something else.
std::string input_error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::input) return e.what();
    return std::string("<wrong error kind> ") + e.what();
  } catch (const std::exception& e) {
    return std::string("<not a deeprfm::Error> ") + e.what();
  }
  return "<no exception>";
}

/// The input error contains every fragment.
#define CHECK_INPUT_ERROR(statement, ...)                                      \
  do {                                                                         \
    const std::string message_ = input_error_of([&] { statement; });           \
    bool matched_ = message_.rfind("<", 0) != 0;                               \
    for (const std::string& fragment_ : std::vector<std::string>{__VA_ARGS__}) \
      matched_ = matched_ && message_.find(fragment_) != std::string::npos;    \
    BOOST_CHECK_MESSAGE(matched_, "error message: \"" << message_ << "\"");    \
  } while (0)

/// A fresh temporary folder per test case, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() : path(test::shared_temp_dir("data-unit")) {}
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<double> read_all(data::SampleSource& s) {
  std::vector<double> out(static_cast<std::size_t>(s.size()) * s.dim());
  s.read_rows(0, s.size(), out.data());
  return out;
}

std::vector<int> cyclic_labels(int n, int classes) {
  std::vector<int> y(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) y[static_cast<std::size_t>(i)] = (i * 7 + 3) % classes;
  return y;
}

const fs::path kFixtures = DEEPRFM_TEST_DATA_DIR;

}  // namespace

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(idx)

BOOST_AUTO_TEST_CASE(plain_and_gzip_read_back_in_any_order) {
  TempDir tmp;
  const int n = 50, rows = 5, cols = 4;
  const auto labels = cyclic_labels(n, 10);
  for (bool gz : {false, true}) {
    const fs::path img = tmp.path / (gz ? "img.anyname" : "img.gz");  // detection by magic only
    const fs::path lab = tmp.path / (gz ? "lab.gz" : "lab.bin");
    test::write_bytes(img, test::idx_images(n, rows, cols), gz);
    test::write_bytes(lab, test::idx_labels(labels), gz);
    data::IdxSource s(img.string(), lab.string());
    BOOST_CHECK_EQUAL(s.size(), n);
    BOOST_CHECK_EQUAL(s.dim(), rows * cols);
    BOOST_CHECK_EQUAL(s.image_rows(), rows);
    BOOST_CHECK(s.labels() == labels);
    // Forward, skipping, backwards (gzip rewinds), single rows, the end.
    for (auto [first, count] : std::vector<std::pair<int, int>>{
             {0, 3}, {3, 4}, {20, 10}, {5, 2}, {0, n}, {49, 1}, {10, 0}, {7, 30}}) {
      std::vector<double> out(static_cast<std::size_t>(count) * s.dim(), -1.0);
      s.read_rows(first, count, out.data());
      bool ok = true;
      for (int r = 0; r < count; ++r)
        for (int p = 0; p < s.dim(); ++p)
          ok = ok && out[static_cast<std::size_t>(r) * s.dim() + p] ==
                         test::idx_pixel(first + r, p) / 255.0;
      BOOST_CHECK_MESSAGE(ok, (gz ? "gzip" : "plain")
                                  << " rows [" << first << ", " << first + count << ")");
    }
    BOOST_CHECK_THROW(s.read_rows(45, 10, nullptr), Error);
  }
}

BOOST_AUTO_TEST_CASE(committed_fixture_gzip_train_plain_test) {
  const auto train = data::open_idx_source((kFixtures / "idx-tiny").string(), true);
  const auto test = data::open_idx_source((kFixtures / "idx-tiny").string(), false);
  BOOST_CHECK_EQUAL(train->size(), 12);
  BOOST_CHECK_EQUAL(test->size(), 6);
  BOOST_CHECK_EQUAL(train->dim(), 12);
  const auto xtr = read_all(*train);
  const auto xte = read_all(*test);
  bool ok = true;
  for (int k = 0; k < 12; ++k) {
    ok = ok && train->labels()[static_cast<std::size_t>(k)] == k % 3;
    for (int p = 0; p < 12; ++p)
      ok = ok && xtr[static_cast<std::size_t>(k * 12 + p)] == test::idx_pixel(k, p) / 255.0;
  }
  for (int k = 0; k < 6; ++k)
    for (int p = 0; p < 12; ++p)
      ok = ok && xte[static_cast<std::size_t>(k * 12 + p)] == test::idx_pixel(k, p, 101) / 255.0;
  BOOST_CHECK(ok);
  BOOST_CHECK(train->describe().find("train-images-idx3-ubyte.gz") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(file_names_prefer_gzip_and_accept_plain) {
  TempDir tmp;
  test::write_bytes(tmp.path / "train-images-idx3-ubyte", test::idx_images(4, 2, 2), false);
  BOOST_CHECK_EQUAL(data::find_idx_file(tmp.path.string(), "train-images-idx3-ubyte"),
                    (tmp.path / "train-images-idx3-ubyte").string());
  test::write_bytes(tmp.path / "train-images-idx3-ubyte.gz", test::idx_images(4, 2, 2), true);
  BOOST_CHECK_EQUAL(data::find_idx_file(tmp.path.string(), "train-images-idx3-ubyte"),
                    (tmp.path / "train-images-idx3-ubyte.gz").string());
  CHECK_INPUT_ERROR(data::find_idx_file(tmp.path.string(), "t10k-images-idx3-ubyte"),
                    "t10k-images-idx3-ubyte.gz", "no IDX file");
  // The label file is missing: open_idx_source names it.
  CHECK_INPUT_ERROR(data::open_idx_source(tmp.path.string(), true), "train-labels-idx1-ubyte");
}

BOOST_AUTO_TEST_CASE(malformed_files_are_input_errors_naming_file_and_problem) {
  TempDir tmp;
  const auto labels = cyclic_labels(20, 10);
  for (bool gz : {false, true}) {
    const std::string tag = gz ? "gz-" : "plain-";
    const fs::path img = tmp.path / (tag + "img");
    const fs::path lab = tmp.path / (tag + "lab");
    test::write_bytes(lab, test::idx_labels(labels), gz);
    const auto good = test::idx_images(20, 3, 3);

    // Missing files.
    CHECK_INPUT_ERROR(data::IdxSource((tmp.path / "nope").string(), lab.string()), "nope",
                      "no such file");
    test::write_bytes(img, good, gz);
    CHECK_INPUT_ERROR(data::IdxSource(img.string(), (tmp.path / "nolab").string()), "nolab",
                      "no such file");
    // Wrong magic: labels given as images and the other way round.
    CHECK_INPUT_ERROR(data::IdxSource(lab.string(), lab.string()), lab.string(), "bad magic",
                      "0x00000801");
    CHECK_INPUT_ERROR(data::IdxSource(img.string(), img.string()), img.string(), "bad magic",
                      "0x00000803");
    // Truncated header.
    test::write_bytes(img, std::vector<unsigned char>(good.begin(), good.begin() + 10), gz);
    CHECK_INPUT_ERROR(data::IdxSource(img.string(), lab.string()), img.string(),
                      "truncated header");
    test::write_bytes(lab, std::vector<unsigned char>{0, 0, 8, 1, 0}, gz);
    CHECK_INPUT_ERROR(data::IdxSource(img.string(), lab.string()), lab.string(),
                      "truncated header");
    // Truncated data (file shorter than the header promises), images and labels.
    test::write_bytes(lab, test::idx_labels(labels), gz);
    test::write_bytes(img, std::vector<unsigned char>(good.begin(), good.end() - 5), gz);
    CHECK_INPUT_ERROR(data::IdxSource(img.string(), lab.string()), img.string(), "truncated data");
    auto short_labels = test::idx_labels(labels);
    short_labels.pop_back();
    test::write_bytes(img, good, gz);
    test::write_bytes(lab, short_labels, gz);
    CHECK_INPUT_ERROR(data::IdxSource(img.string(), lab.string()), lab.string(), "truncated data");
    // Longer than the header says.
    auto long_images = good;
    long_images.push_back(7);
    test::write_bytes(lab, test::idx_labels(labels), gz);
    test::write_bytes(img, long_images, gz);
    CHECK_INPUT_ERROR(data::IdxSource(img.string(), lab.string()), img.string(), "longer");
    // Image / label count mismatch.
    test::write_bytes(img, test::idx_images(19, 3, 3), gz);
    CHECK_INPUT_ERROR(data::IdxSource(img.string(), lab.string()), "count mismatch", "19 images",
                      "20 labels");
  }
  // A gzip stream cut in the middle (corrupt compressed data).
  const fs::path img = tmp.path / "cut.gz";
  const fs::path lab = tmp.path / "cut-lab";
  test::write_bytes(lab, test::idx_labels(std::vector<int>(300, 1)), false);
  test::write_bytes(img, test::idx_images(300, 28, 28), true);
  auto bytes = test::read_bytes(img);
  bytes.resize(bytes.size() / 2);
  test::write_bytes(img, bytes, false);
  CHECK_INPUT_ERROR(data::IdxSource(img.string(), lab.string()), img.string(), "truncated data");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(cifar10)

BOOST_AUTO_TEST_CASE(batches_concatenate_and_validate) {
  TempDir tmp;
  const int per_batch = 3;
  std::int64_t first = 0;
  std::vector<int> all_labels;
  for (int b = 1; b <= 5; ++b) {
    std::vector<int> labels;
    for (int k = 0; k < per_batch; ++k) labels.push_back(static_cast<int>((first + k) % 10));
    test::write_cifar_batch(tmp.path / ("data_batch_" + std::to_string(b) + ".bin"), first, labels);
    all_labels.insert(all_labels.end(), labels.begin(), labels.end());
    first += per_batch;
  }
  test::write_cifar_batch(tmp.path / "test_batch.bin", 1000, {9, 8});
  const auto train = data::open_cifar10_source(tmp.path.string(), true);
  const auto test_set = data::open_cifar10_source(tmp.path.string(), false);
  BOOST_CHECK_EQUAL(train->size(), 5 * per_batch);
  BOOST_CHECK_EQUAL(train->dim(), 3072);
  BOOST_CHECK(train->labels() == all_labels);
  BOOST_CHECK(test_set->labels() == (std::vector<int>{9, 8}));
  // A read across batch boundaries.
  std::vector<double> out(static_cast<std::size_t>(8) * 3072);
  train->read_rows(2, 8, out.data());
  bool ok = true;
  for (int r = 0; r < 8; ++r)
    for (int p = 0; p < 3072; p += 7)
      ok = ok && out[static_cast<std::size_t>(r) * 3072 + p] == test::idx_pixel(2 + r, p) / 255.0;
  BOOST_CHECK(ok);
  test_set->read_rows(1, 1, out.data());
  BOOST_CHECK_EQUAL(out[5], test::idx_pixel(1001, 5) / 255.0);

  // The folder may be the parent of cifar-10-batches-bin.
  const fs::path parent = tmp.path / "outer";
  fs::create_directories(parent / "cifar-10-batches-bin");
  fs::copy_file(tmp.path / "test_batch.bin", parent / "cifar-10-batches-bin" / "test_batch.bin");
  BOOST_CHECK_EQUAL(data::open_cifar10_source(parent.string(), false)->size(), 2);

  // Missing batch, size not a multiple of 3073, label >= 10.
  fs::rename(tmp.path / "data_batch_3.bin", tmp.path / "moved.bin");
  CHECK_INPUT_ERROR(data::open_cifar10_source(tmp.path.string(), true), "data_batch_3.bin",
                    "missing");
  fs::rename(tmp.path / "moved.bin", tmp.path / "data_batch_3.bin");
  {
    auto bytes = test::read_bytes(tmp.path / "data_batch_4.bin");
    bytes.pop_back();
    test::write_bytes(tmp.path / "data_batch_4.bin", bytes, false);
  }
  CHECK_INPUT_ERROR(data::open_cifar10_source(tmp.path.string(), true), "data_batch_4.bin",
                    "multiple of the 3073");
  test::write_cifar_batch(tmp.path / "data_batch_4.bin", 9, {1, 10, 2});
  CHECK_INPUT_ERROR(data::open_cifar10_source(tmp.path.string(), true), "data_batch_4.bin",
                    "record 1", "label 10");
  CHECK_INPUT_ERROR(data::open_cifar10_source((tmp.path / "none").string(), false),
                    "test_batch.bin", "missing");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(npy)

BOOST_AUTO_TEST_CASE(every_supported_dtype_reads_back) {
  TempDir tmp;
  const int n = 5, d = 3;
  std::vector<std::int64_t> labels64 = {0, 1, 2, 1, 0};
  test::write_npy_array(tmp.path / "y.npy", "<i8", {n}, labels64);
  auto value = [](int i, int j) { return (i * d + j) % 7 - 2; };  // -2..4, exact in every type
  auto check = [&](const std::string& descr) {
    data::NpySource s((tmp.path / "x.npy").string(), (tmp.path / "y.npy").string());
    const auto x = read_all(s);
    bool ok = s.size() == n && s.dim() == d;
    const bool is_unsigned = descr.compare(1, 1, "u") == 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < d; ++j)
        ok = ok && x[static_cast<std::size_t>(i * d + j)] ==
                       (is_unsigned ? value(i, j) + 2 : value(i, j));
    BOOST_CHECK_MESSAGE(ok, "dtype " << descr);
    BOOST_CHECK(s.labels() == (std::vector<int>{0, 1, 2, 1, 0}));
  };
  auto fill = [&](auto zero, bool is_unsigned) {
    std::vector<decltype(zero)> v;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < d; ++j)
        v.push_back(static_cast<decltype(zero)>(value(i, j) + (is_unsigned ? 2 : 0)));
    return v;
  };
  test::write_npy_array(tmp.path / "x.npy", "<f8", {n, d}, fill(double(0), false));
  check("<f8");
  test::write_npy_array(tmp.path / "x.npy", "<f4", {n, d}, fill(float(0), false));
  check("<f4");
  test::write_npy_array(tmp.path / "x.npy", "<i8", {n, d}, fill(std::int64_t(0), false));
  check("<i8");
  test::write_npy_array(tmp.path / "x.npy", "<i4", {n, d}, fill(std::int32_t(0), false));
  check("<i4");
  test::write_npy_array(tmp.path / "x.npy", "<i2", {n, d}, fill(std::int16_t(0), false));
  check("<i2");
  test::write_npy_array(tmp.path / "x.npy", "|i1", {n, d}, fill(std::int8_t(0), false));
  check("|i1");
  test::write_npy_array(tmp.path / "x.npy", "|u1", {n, d}, fill(std::uint8_t(0), true));
  check("|u1");
  test::write_npy_array(tmp.path / "x.npy", "<u2", {n, d}, fill(std::uint16_t(0), true));
  check("<u2");
  test::write_npy_array(tmp.path / "x.npy", "<u4", {n, d}, fill(std::uint32_t(0), true));
  check("<u4");
  test::write_npy_array(tmp.path / "x.npy", "<u8", {n, d}, fill(std::uint64_t(0), true));
  check("<u8");
  // Format version 2.0 and 3.0 headers.
  test::write_npy_array(tmp.path / "x.npy", "<f8", {n, d}, fill(double(0), false), false, 2);
  check("<f8 v2");
  test::write_npy_array(tmp.path / "x.npy", "<f8", {n, d}, fill(double(0), false), false, 3);
  check("<f8 v3");
  // Labels of other integer types, shape (n, 1), and integral floats.
  test::write_npy_array(tmp.path / "y.npy", "|u1", {n, 1},
                        std::vector<std::uint8_t>{0, 1, 2, 1, 0});
  check("<f8 with |u1 (n,1) labels");
  test::write_npy_array(tmp.path / "y.npy", "<f4", {n}, std::vector<float>{0, 1, 2, 1, 0});
  check("<f8 with <f4 labels");
}

BOOST_AUTO_TEST_CASE(images_are_flattened_in_c_order_for_both_storage_orders) {
  TempDir tmp;
  const int n = 4, h = 2, w = 3;
  test::write_npy_array(tmp.path / "y.npy", "<i4", {n}, std::vector<std::int32_t>{0, 1, 0, 1});
  std::vector<double> c_order, f_order;
  for (int i = 0; i < n; ++i)
    for (int a = 0; a < h; ++a)
      for (int b = 0; b < w; ++b) c_order.push_back(100.0 * i + 10.0 * a + b);
  for (int b = 0; b < w; ++b)
    for (int a = 0; a < h; ++a)
      for (int i = 0; i < n; ++i) f_order.push_back(100.0 * i + 10.0 * a + b);
  test::write_npy_array(tmp.path / "c.npy", "<f8", {n, h, w}, c_order);
  test::write_npy_array(tmp.path / "f.npy", "<f8", {n, h, w}, f_order, true);
  data::NpySource c((tmp.path / "c.npy").string(), (tmp.path / "y.npy").string());
  data::NpySource f((tmp.path / "f.npy").string(), (tmp.path / "y.npy").string());
  BOOST_CHECK_EQUAL(c.dim(), h * w);
  BOOST_CHECK(read_all(c) == c_order);
  BOOST_CHECK(read_all(f) == c_order);
  std::vector<double> part(static_cast<std::size_t>(2) * h * w);
  f.read_rows(1, 2, part.data());
  BOOST_CHECK(std::equal(part.begin(), part.end(), c_order.begin() + h * w));
}

BOOST_AUTO_TEST_CASE(committed_fixtures_and_labels_rule) {
  const fs::path dir = kFixtures / "npy-tiny";
  const std::string x = (dir / "train_X.npy").string();
  BOOST_CHECK_EQUAL(data::labels_file_for(x, "", "X", "y"), (dir / "train_y.npy").string());
  BOOST_CHECK_EQUAL(data::labels_file_for((dir / "train.npy").string(), "", "X", "y"),
                    (dir / "train_y.npy").string());
  BOOST_CHECK_EQUAL(data::labels_file_for((dir / "a_X.npy").string(), "", "X", "labels"),
                    (dir / "a_labels.npy").string());
  BOOST_CHECK_EQUAL(data::labels_file_for(x, "/else/where.npy", "X", "y"), "/else/where.npy");

  data::NpySource s(x, data::labels_file_for(x, "", "X", "y"));
  const auto values = read_all(s);
  bool ok = s.size() == 6 && s.dim() == 4;
  for (int i = 0; i < 6; ++i) {
    ok = ok && s.labels()[static_cast<std::size_t>(i)] == i % 3;
    for (int j = 0; j < 4; ++j)
      ok = ok && values[static_cast<std::size_t>(i * 4 + j)] ==
                     static_cast<double>(
                         static_cast<float>(0.25 * i - 0.5 * j + ((i + j) % 2 ? 1.0 : 0.0)));
  }
  BOOST_CHECK(ok);
  data::NpySource f((dir / "fortran_X.npy").string(), (dir / "train_y.npy").string());
  const auto fv = read_all(f);
  ok = f.dim() == 6;
  for (int i = 0; i < 6; ++i)
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 3; ++b)
        ok = ok && fv[static_cast<std::size_t>(i * 6 + a * 3 + b)] == 100.0 * i + 10.0 * a + b;
  BOOST_CHECK(ok);
  CHECK_INPUT_ERROR(
      data::NpySource((dir / "big_endian_X.npy").string(), (dir / "train_y.npy").string()),
      "big_endian_X.npy", "big-endian", ">f8");
}

BOOST_AUTO_TEST_CASE(malformed_files_are_input_errors) {
  TempDir tmp;
  const std::string x = (tmp.path / "x.npy").string();
  const std::string y = (tmp.path / "y.npy").string();
  const std::vector<double> values(12, 1.5);
  test::write_npy_array(tmp.path / "y.npy", "<i8", {4}, std::vector<std::int64_t>{0, 1, 0, 1});

  CHECK_INPUT_ERROR(data::NpySource((tmp.path / "missing.npy").string(), y), "missing.npy",
                    "no such file");
  test::write_bytes(tmp.path / "x.npy", {'N', 'O', 'T', 'N', 'P', 'Y', 1, 0, 0, 0, 0}, false);
  CHECK_INPUT_ERROR(data::NpySource(x, y), x, "bad magic");
  test::write_bytes(tmp.path / "x.npy", {0x93, 'N', 'U', 'M', 'P', 'Y', 1}, false);
  CHECK_INPUT_ERROR(data::NpySource(x, y), x, "truncated header");
  test::write_bytes(tmp.path / "x.npy", {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 200, 0, '{'}, false);
  CHECK_INPUT_ERROR(data::NpySource(x, y), x, "truncated header");
  // Truncated data, and trailing bytes.
  test::write_npy(tmp.path / "x.npy", "<f8", {4, 3}, values.data(), 96, false, 1, 8);
  CHECK_INPUT_ERROR(data::NpySource(x, y), x, "truncated data");
  test::write_npy(tmp.path / "x.npy", "<f8", {4, 2}, values.data(), 96);
  CHECK_INPUT_ERROR(data::NpySource(x, y), x, "longer");
  // Wrong dtypes / endianness / layout.
  test::write_npy(tmp.path / "x.npy", ">f8", {4, 3}, values.data(), 96);
  CHECK_INPUT_ERROR(data::NpySource(x, y), x, "big-endian");
  test::write_npy(tmp.path / "x.npy", "<c8", {4, 3}, values.data(), 96);
  CHECK_INPUT_ERROR(data::NpySource(x, y), x, "unsupported dtype '<c8'");
  test::write_npy(tmp.path / "x.npy", "|O", {4, 3}, values.data(), 96);
  CHECK_INPUT_ERROR(data::NpySource(x, y), x, "unsupported dtype");
  test::write_npy(tmp.path / "x.npy", "<f8", {12}, values.data(), 96);
  CHECK_INPUT_ERROR(data::NpySource(x, y), x, "shape (n, d)");
  // Count mismatch; labels that are not integers or not a vector.
  test::write_npy(tmp.path / "x.npy", "<f8", {3, 4}, values.data(), 96);
  CHECK_INPUT_ERROR(data::NpySource(x, y), "count mismatch", "3 samples", "4 labels");
  test::write_npy(tmp.path / "x.npy", "<f8", {4, 3}, values.data(), 96);
  test::write_npy_array(tmp.path / "y.npy", "<f8", {4}, std::vector<double>{0, 1, 0.5, 1});
  CHECK_INPUT_ERROR(data::NpySource(x, y), y, "sample 2", "not an integer");
  test::write_npy_array(tmp.path / "y.npy", "<f8", {4}, std::vector<double>{0, 1, NAN, 1});
  CHECK_INPUT_ERROR(data::NpySource(x, y), y, "sample 2", "not an integer");
  test::write_npy_array(tmp.path / "y.npy", "<i8", {2, 2}, std::vector<std::int64_t>{0, 1, 0, 1});
  CHECK_INPUT_ERROR(data::NpySource(x, y), y, "shape (n,)");
  test::write_npy_array(tmp.path / "y.npy", "<i8", {4}, std::vector<std::int64_t>{0, 1, 0, 1});
  BOOST_CHECK_NO_THROW(data::NpySource(x, y));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(synthetic)

BOOST_AUTO_TEST_CASE(each_sample_depends_only_on_seed_stream_and_index) {
  const int n = 23, d = 7, classes = 4;
  data::SyntheticSource a(n, d, classes, 2.0, 42, data::SyntheticStream::train);
  data::SyntheticSource b(n + 10, d, classes, 2.0, 42, data::SyntheticStream::train);
  const auto all = read_all(a);
  bool same = true;
  for (int i = n - 1; i >= 0; --i) {  // one row at a time, backwards, from a longer source
    std::vector<double> row(d);
    b.read_rows(i, 1, row.data());
    for (int j = 0; j < d; ++j)
      same = same && row[static_cast<std::size_t>(j)] == all[static_cast<std::size_t>(i * d + j)];
  }
  BOOST_CHECK(same);
  for (int i = 0; i < n; ++i)
    BOOST_CHECK_EQUAL(a.labels()[static_cast<std::size_t>(i)], i % classes);

  data::SyntheticSource t(n, d, classes, 2.0, 42, data::SyntheticStream::test);
  data::SyntheticSource other_seed(n, d, classes, 2.0, 43, data::SyntheticStream::train);
  BOOST_CHECK(t.means() == a.means());
  BOOST_CHECK(read_all(t) != all);
  BOOST_CHECK(other_seed.means() != a.means());
  BOOST_CHECK(read_all(other_seed) != all);
  CHECK_INPUT_ERROR(data::SyntheticSource(0, d, classes, 1.0, 1, data::SyntheticStream::train),
                    "at least one sample (n)");
  CHECK_INPUT_ERROR(data::SyntheticSource(5, 0, classes, 1.0, 1, data::SyntheticStream::train),
                    "dimension");
}

BOOST_AUTO_TEST_CASE(mixture_has_the_documented_moments) {
  // Noise: mean 0, variance 1 (Box-Muller); means: entries N(0, separation^2).
  std::vector<double> z(200000);
  deeprfm::standard_normals(12345, z.data(), z.size());
  double mean = 0, var = 0;
  for (double v : z) mean += v;
  mean /= z.size();
  for (double v : z) var += (v - mean) * (v - mean);
  var /= z.size() - 1;
  BOOST_CHECK_SMALL(mean, 0.01);
  BOOST_CHECK_CLOSE(var, 1.0, 1.5);  // percent
  const int n = 4000, d = 5, classes = 2;
  data::SyntheticSource s(n, d, classes, 3.0, 7, data::SyntheticStream::train);
  const auto x = read_all(s);
  for (int c = 0; c < classes; ++c)
    for (int j = 0; j < d; ++j) {
      double m = 0;
      for (int i = c; i < n; i += classes) m += x[static_cast<std::size_t>(i * d + j)];
      m /= n / classes;
      BOOST_CHECK_SMALL(m - s.means()[static_cast<std::size_t>(c * d + j)], 0.1);
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(selection)

BOOST_AUTO_TEST_CASE(class_balanced_in_file_order_then_sorted_by_class) {
  //                          0  1  2  3  4  5  6  7  8  9  10
  const std::vector<int> y = {2, 0, 1, 0, 2, 2, 1, 0, 0, 1, 2};
  using V = std::vector<std::int64_t>;
  // n = 7, C = 3: quotas 3, 2, 2 (remainder to the lowest classes).
  BOOST_CHECK(data::select_class_balanced(y, 3, 7) == (V{1, 3, 7, 2, 6, 0, 4}));
  BOOST_CHECK(data::select_class_balanced(y, 3, 6) == (V{1, 3, 2, 6, 0, 4}));
  BOOST_CHECK(data::select_class_balanced(y, 3, 1) == (V{1}));
  // n = 0: everything, stably sorted by class.
  BOOST_CHECK(data::select_class_balanced(y, 3, 0) == (V{1, 3, 7, 8, 2, 6, 9, 0, 4, 5, 10}));
  // More classes than present: n = 0 still works, n > 0 needs every class.
  BOOST_CHECK(data::select_class_balanced(y, 5, 0).size() == y.size());
  CHECK_INPUT_ERROR(data::select_class_balanced(y, 5, 5), "class 3 has only 0 samples");
  // Too few in one class; more than available; labels out of range; bad arguments.
  CHECK_INPUT_ERROR(data::select_class_balanced(y, 3, 11), "class 1 has only 3 samples", "needs 4");
  CHECK_INPUT_ERROR(data::select_class_balanced(y, 3, 12), "12 samples", "only 11");
  CHECK_INPUT_ERROR(data::select_class_balanced(y, 2, 4), "label 2 of sample 0", "[0, 2)");
  CHECK_INPUT_ERROR(data::select_class_balanced({0, -1}, 2, 0), "label -1 of sample 1");
  CHECK_INPUT_ERROR(data::select_class_balanced(y, 0, 4), "classes");
  CHECK_INPUT_ERROR(data::select_class_balanced(y, 3, -2), "-2");
  BOOST_CHECK(data::select_class_balanced({}, 3, 0).empty());
}

BOOST_AUTO_TEST_CASE(first_n_in_file_order_then_sorted_by_class) {
  //                          0  1  2  3  4  5  6  7  8  9  10
  const std::vector<int> y = {2, 0, 1, 0, 2, 2, 1, 0, 0, 1, 2};
  using V = std::vector<std::int64_t>;
  // The first n samples, whatever their classes, stably sorted by class (file order within a
  // class): n = 7 takes samples 0..6 (3 of class 2, 2 of class 0, 2 of class 1).
  BOOST_CHECK(data::select_first(y, 3, 7) == (V{1, 3, 2, 6, 0, 4, 5}));
  BOOST_CHECK(data::select_first(y, 3, 1) == (V{0}));
  BOOST_CHECK(data::select_first(y, 3, 2) == (V{1, 0}));
  // n = 0: everything, the same rows as the balanced selection of all.
  BOOST_CHECK(data::select_first(y, 3, 0) == (V{1, 3, 7, 8, 2, 6, 9, 0, 4, 5, 10}));
  BOOST_CHECK(data::select_first(y, 3, 0) == data::select_class_balanced(y, 3, 0));
  BOOST_CHECK(data::select_first(y, 3, 11) == data::select_first(y, 3, 0));
  // A class may be missing: the first 2 hold none of class 1 (the balanced selection of 2
  // takes one sample of class 0 and one of class 1).
  BOOST_CHECK(data::select_first(y, 3, 2) != data::select_class_balanced(y, 3, 2));
  // Classes beyond the labels are absent, not an error (n = 5 with C = 5).
  BOOST_CHECK(data::select_first(y, 5, 5) == (V{1, 3, 2, 0, 4}));
  // Too many; labels out of range (also of samples beyond n); bad arguments.
  CHECK_INPUT_ERROR(data::select_first(y, 3, 12), "12 samples", "only 11");
  CHECK_INPUT_ERROR(data::select_first(y, 2, 4), "label 2 of sample 0", "[0, 2)");
  CHECK_INPUT_ERROR(data::select_first({0, 1, 0, -1}, 2, 2), "label -1 of sample 3");
  CHECK_INPUT_ERROR(data::select_first({0, 1, 0, 5}, 2, 0), "label 5 of sample 3");
  CHECK_INPUT_ERROR(data::select_first(y, 0, 4), "classes");
  CHECK_INPUT_ERROR(data::select_first(y, 3, -2), "-2");
  BOOST_CHECK(data::select_first({}, 3, 0).empty());
  // A label error is about the number of classes.
  try {
    data::select_first({0, 3}, 2, 0);
    BOOST_ERROR("label 3 with 2 classes was accepted");
  } catch (const Error& e) {
    BOOST_CHECK_EQUAL(e.subject(), "classes");
  }
}

BOOST_AUTO_TEST_CASE(select_samples_dispatches_and_parse_selection_names_its_subject) {
  const std::vector<int> y = {2, 0, 1, 0, 2, 2, 1, 0, 0, 1, 2};
  BOOST_CHECK(data::select_samples(data::Selection::first, y, 3, 4) == data::select_first(y, 3, 4));
  BOOST_CHECK(data::select_samples(data::Selection::balanced, y, 3, 4) ==
              data::select_class_balanced(y, 3, 4));
  BOOST_CHECK(data::parse_selection("balanced") == data::Selection::balanced);
  BOOST_CHECK(data::parse_selection("first") == data::Selection::first);
  BOOST_CHECK_EQUAL(data::to_string(data::Selection::balanced), "balanced");
  BOOST_CHECK_EQUAL(data::to_string(data::Selection::first), "first");
  BOOST_CHECK(data::parse_selection(data::to_string(data::Selection::first)) ==
              data::Selection::first);
  for (const std::string bad : {"foo", "", "Balanced", "first "}) {
    CHECK_INPUT_ERROR(data::parse_selection(bad), "sample selection '" + bad + "' is not one of");
    for (const char* subject : {"selection", "test-selection"}) {
      try {
        data::parse_selection(bad, subject);
        BOOST_ERROR("selection '" << bad << "' was accepted");
      } catch (const Error& e) {
        BOOST_CHECK_EQUAL(e.subject(), subject);
        BOOST_CHECK(e.kind() == ErrorKind::input);
      }
    }
  }
  // The defaults: balanced training set, the first test points.
  const data::DataOptions o;
  BOOST_CHECK(o.selection == data::Selection::balanced);
  BOOST_CHECK(o.test_selection == data::Selection::first);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(options)

BOOST_AUTO_TEST_CASE(open_sources_explains_missing_or_wrong_options) {
  auto comm = mpi::Communicator::world();
  data::DataOptions o;
  o.kind = "imagenet";
  CHECK_INPUT_ERROR(data::open_sources(o, comm), "unknown data kind 'imagenet'");
  o.kind = "mnist";
  CHECK_INPUT_ERROR(data::open_sources(o, comm), "mnist data needs a data folder");
  o.data_dir = "/nonexistent/mnist";
  CHECK_INPUT_ERROR(data::open_sources(o, comm), "/nonexistent/mnist/train-images-idx3-ubyte");
  o.kind = "cifar10";
  o.data_dir.clear();
  CHECK_INPUT_ERROR(data::open_sources(o, comm), "cifar10 data needs a data folder");
  o.kind = "npy";
  CHECK_INPUT_ERROR(data::open_sources(o, comm), "npy data needs a training file");
  o.kind = "synthetic";
  o.n = 0;
  CHECK_INPUT_ERROR(data::open_sources(o, comm), "sample count n > 0");
  // The error names its subject (the setting n) and no command-line flag.
  try {
    data::open_sources(o, comm);
    BOOST_ERROR("synthetic data with n = 0 was accepted");
  } catch (const Error& e) {
    BOOST_CHECK_EQUAL(e.subject(), "n");
    BOOST_CHECK_MESSAGE(std::string(e.what()).find("--") == std::string::npos, e.what());
  }

  // The committed IDX fixture through the options; n_test = -1 opens no test source.
  o = data::DataOptions{};
  o.kind = "mnist";
  o.data_dir = (kFixtures / "idx-tiny").string();
  auto s = data::open_sources(o, comm);
  BOOST_CHECK(s.train && s.test);
  BOOST_CHECK_EQUAL(data::resolve_classes(o, *s.train), 10);
  o.n_test = -1;
  BOOST_CHECK(!data::open_sources(o, comm).test);
  // npy: labels file derived from the X name; classes = max label + 1.
  o = data::DataOptions{};
  o.kind = "npy";
  o.train_file = (kFixtures / "npy-tiny" / "train_X.npy").string();
  s = data::open_sources(o, comm);
  BOOST_CHECK(s.train && !s.test);
  BOOST_CHECK_EQUAL(data::resolve_classes(o, *s.train), 3);
  o.classes = 7;
  BOOST_CHECK_EQUAL(data::resolve_classes(o, *s.train), 7);
}

BOOST_AUTO_TEST_SUITE_END()
