// HDF5 sample source: a tiny X/y file with float32 samples and int32 labels (written here by
// rank 0 with the serial HDF5 API, as a user's h5py script would), row reads by every rank, and
// every bad-input case failing with the same Error(input) on every rank, without hangs.
#include <boost/test/unit_test.hpp>

#include <hdf5.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/data/hdf5_input.hpp>
#include <deeprfm/la/process_grid.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

namespace {

constexpr int kSamples = 11;

float x_value(int i, int j) { return static_cast<float>(i) + static_cast<float>(j) / 8.0f; }

void write_dataset(hid_t file, const char* name, hid_t type, std::vector<hsize_t> dims,
                   const void* data) {
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  BOOST_REQUIRE(ds >= 0);
  BOOST_REQUIRE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  H5Dclose(ds);
  H5Sclose(space);
}

/// Rank 0 writes the fixture file with plain serial HDF5. Collective over MPI_COMM_WORLD.
std::string write_fixture(const std::filesystem::path& dir) {
  const std::string path = (dir / "xy.h5").string();
  if (test::world_rank() == 0) {
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    BOOST_REQUIRE(file >= 0);
    std::vector<float> x(kSamples * 3), x3(kSamples * 4), x1(kSamples);
    std::vector<int> y(kSamples), y_neg(kSamples), y_short(kSamples - 1), y2(kSamples * 2);
    std::vector<float> y_float(kSamples);
    for (int i = 0; i < kSamples; ++i) {
      for (int j = 0; j < 3; ++j) x[i * 3 + j] = x_value(i, j);
      for (int j = 0; j < 4; ++j) x3[i * 4 + j] = x_value(i, j);
      x1[i] = static_cast<float>(i);
      y[i] = y_neg[i] = i % 3;
      y_float[i] = static_cast<float>(i % 3);
      y2[2 * i] = y2[2 * i + 1] = i % 3;
      if (i < kSamples - 1) y_short[i] = i % 3;
    }
    y_neg[7] = -1;
    write_dataset(file, "X", H5T_NATIVE_FLOAT, {kSamples, 3}, x.data());
    write_dataset(file, "y", H5T_NATIVE_INT, {kSamples}, y.data());
    write_dataset(file, "X3", H5T_NATIVE_FLOAT, {kSamples, 2, 2}, x3.data());
    write_dataset(file, "y_col", H5T_NATIVE_INT, {kSamples, 1}, y.data());
    write_dataset(file, "X1", H5T_NATIVE_FLOAT, {kSamples}, x1.data());
    write_dataset(file, "y_neg", H5T_NATIVE_INT, {kSamples}, y_neg.data());
    write_dataset(file, "y_short", H5T_NATIVE_INT, {kSamples - 1}, y_short.data());
    write_dataset(file, "y_2col", H5T_NATIVE_INT, {kSamples, 2}, y2.data());
    write_dataset(file, "y_float", H5T_NATIVE_FLOAT, {kSamples}, y_float.data());
    hid_t group = H5Gcreate2(file, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    write_dataset(group, "X", H5T_NATIVE_FLOAT, {kSamples, 3}, x.data());
    write_dataset(group, "y", H5T_NATIVE_INT, {kSamples}, y.data());
    H5Gclose(group);
    H5Fclose(file);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return path;
}

/// The message of the deeprfm::Error that opening throws ("" if none), and its kind.
std::string open_error(const std::string& path, const std::string& x, const std::string& y,
                       ErrorKind* kind) {
  auto world = mpi::Communicator::world();
  try {
    auto source = data::open_hdf5_source(path, x, y, world);
  } catch (const Error& e) {
    *kind = e.kind();
    return e.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(reads_float32_samples_and_int32_labels) {
  auto world = mpi::Communicator::world();
  const auto dir = test::shared_temp_dir("hdf5-input");
  test::TempDirGuard cleanup{dir};
  const std::string path = write_fixture(dir);

  for (const auto& [x_name, y_name, dim] : {std::tuple<std::string, std::string, int>{"X", "y", 3},
                                            {"/train/X", "train/y", 3},
                                            {"X3", "y_col", 4}}) {
    auto source = data::open_hdf5_source(path, x_name, y_name, world);
    DEEPRFM_CHECK_ALL(source->size() == kSamples);
    DEEPRFM_CHECK_ALL(source->dim() == dim);
    DEEPRFM_CHECK_ALL(source->collective_reads());
    DEEPRFM_CHECK_ALL(test::contains(source->describe(), "xy.h5"));
    bool labels_ok = source->labels().size() == kSamples;
    for (int i = 0; labels_ok && i < kSamples; ++i) labels_ok = source->labels()[i] == i % 3;
    DEEPRFM_CHECK_ALL(labels_ok);

    // Each rank reads its own range (rank 1 none); values as stored, not scaled.
    const int rank = world.rank();
    const std::int64_t first = (rank * 4) % kSamples;
    const std::int64_t count = rank == 1 ? 0 : std::min<std::int64_t>(5, kSamples - first);
    std::vector<double> rows(static_cast<std::size_t>(count) * dim + 1, -1.0);
    source->read_rows(first, count, rows.data());
    bool ok = true;
    for (std::int64_t i = 0; i < count; ++i)
      for (int j = 0; j < dim; ++j)
        ok = ok && rows[i * dim + j] == static_cast<double>(x_value(int(first + i), j));
    DEEPRFM_CHECK_ALL(ok);
  }
}

BOOST_AUTO_TEST_CASE(bad_inputs_fail_on_every_rank) {
  const auto dir = test::shared_temp_dir("hdf5-input-bad");
  test::TempDirGuard cleanup{dir};
  const std::string path = write_fixture(dir);
  const std::string text = (dir / "text.h5").string();
  if (test::world_rank() == 0) std::ofstream(text) << "this is not an HDF5 file\n";
  MPI_Barrier(MPI_COMM_WORLD);

  struct Case {
    std::string file, x, y, expect;
  };
  const std::vector<Case> cases = {
      {(dir / "missing.h5").string(), "X", "y", "does not exist"},
      {text, "X", "y", "is not an HDF5 file"},
      {path, "features", "y", "'features' not found; the root group holds: X, X1, X3, train, y"},
      {path, "X", "labels", "labels (y) dataset 'labels' not found"},
      {path, "train", "y", "'train' is not a dataset"},
      {path, "X1", "y", "expected samples x features"},
      {path, "X", "y_2col", "expected labels of shape (n,) or (n, 1)"},
      {path, "X", "y_short", "has 11 samples but 'y_short' has 10 labels"},
      {path, "X", "y_neg", "label -1 of sample 7"},
      {path, "X", "y_float", "must hold integer class labels"},
  };
  for (const auto& c : cases) {
    ErrorKind kind = ErrorKind::internal;
    const std::string message = open_error(c.file, c.x, c.y, &kind);
    const bool ok = test::contains(message, c.expect) && kind == ErrorKind::input;
    if (test::world_rank() == 0)
      BOOST_TEST_MESSAGE((ok ? "ok: " : "FAILED: expected '" + c.expect + "', got: ") << message);
    DEEPRFM_CHECK_ALL(ok);
  }
}

// Training and test sets from one file (--test-x-name/--test-y-name): the test names are the
// ones opened for the test file (a bad one is reported by name), the training names otherwise.
BOOST_AUTO_TEST_CASE(train_and_test_sets_from_one_file_with_their_own_names) {
  auto world = mpi::Communicator::world();
  const auto dir = test::shared_temp_dir("hdf5-input-one-file");
  test::TempDirGuard cleanup{dir};
  const std::string path = write_fixture(dir);
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  data::DataOptions options;
  options.kind = "hdf5";
  options.train_file = options.test_file = path;
  options.x_name = "/train/X";
  options.y_name = "/train/y";
  options.n = 0;
  options.n_test = 0;
  options.test_x_name = "X3";  // 4 features: must be refused against the training set's 3
  options.test_y_name = "y";
  ErrorKind kind = ErrorKind::internal;
  std::string message;
  try {
    data::load_train_test(options, grid, 4);
  } catch (const Error& e) {
    kind = e.kind();
    message = e.what();
  }
  BOOST_TEST_MESSAGE("mismatched test set: " << message);
  DEEPRFM_CHECK_ALL(kind == ErrorKind::input && !message.empty());
  options.test_x_name = "X";
  options.test_y_name = "y_neg";
  message.clear();
  try {
    data::load_train_test(options, grid, 4);
  } catch (const Error& e) {
    message = e.what();
  }
  DEEPRFM_CHECK_ALL(test::contains(message, "y_neg"));
  // A missing test dataset is reported about the option that named it (the command line adds
  // "(option --test-x-name)"), or about --y-name when the test labels' name came from there.
  const auto subject_of_missing = [&](const std::string& test_x, const std::string& test_y) {
    options.test_x_name = test_x;
    options.test_y_name = test_y;
    std::string subject = "(no error)";
    try {
      data::load_train_test(options, grid, 4);
    } catch (const Error& e) {
      subject = e.subject();
    }
    return subject;
  };
  DEEPRFM_CHECK_ALL(subject_of_missing("no_such_X", "y") == "test-x-name");
  DEEPRFM_CHECK_ALL(subject_of_missing("X", "no_such_y") == "test-y-name");
  options.y_name = "no_such_y";  // the training set fails first, about its own option
  DEEPRFM_CHECK_ALL(subject_of_missing("X", "") == "y-name");
  options.y_name = "/train/y";
  options.test_x_name = "X";
  options.test_y_name = "y";
  const auto both = data::load_train_test(options, grid, 4);
  DEEPRFM_CHECK_ALL(both.train.x.rows() == kSamples && both.test.x.rows() == kSamples);
  DEEPRFM_CHECK_ALL(both.train.x.cols() == 3 && both.test.x.cols() == 3);
}
