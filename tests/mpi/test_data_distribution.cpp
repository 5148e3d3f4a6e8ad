// load_train_test / read_distributed on every grid shape of the world: every element of the
// distributed, standardised data set against a serial computation; rank-count invariance of the
// synthetic generator; test-set standardisation with training or own statistics; agreed errors
// (bad values, bad files, a read failing on one rank only) that never leave a rank waiting; and
// ~300 real Fashion-MNIST points when the files are installed.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <deeprfm/base/error.hpp>
#include <deeprfm/data/dataset.hpp>
#include <deeprfm/data/idx.hpp>
#include <deeprfm/data/npy.hpp>
#include <deeprfm/data/synthetic.hpp>
#include <deeprfm/la/dist_matrix.hpp>

#include "../unit/test_data_fixtures.hpp"
#include "test_helpers.hpp"

using namespace deeprfm;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = DEEPRFM_TEST_DATA_DIR;

/// A shared temporary folder, removed at the end (rank 0, after everyone is done).
struct SharedTempDir {
  fs::path path;
  SharedTempDir() : path(test::shared_temp_dir("data-mpi")) {}
  ~SharedTempDir() {
    MPI_Barrier(MPI_COMM_WORLD);
    if (test::world_rank() == 0) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

/// The serial reference: selected rows of `source`, standardised with `stats_from` rows'
/// statistics (two-pass, n-1 denominator, constant features -> 0). Row-major.
struct Reference {
  std::vector<double> values;
  std::vector<double> mean, std;
};

std::vector<double> read_selected(data::SampleSource& s, const std::vector<std::int64_t>& sel) {
  const int d = s.dim();
  std::vector<double> out(sel.size() * static_cast<std::size_t>(d));
  for (std::size_t i = 0; i < sel.size(); ++i) s.read_rows(sel[i], 1, out.data() + i * d);
  return out;
}

void statistics_of(const std::vector<double>& x, int d, std::vector<double>& mean,
                   std::vector<double>& sd) {
  const std::size_t n = x.size() / static_cast<std::size_t>(d);
  mean.assign(static_cast<std::size_t>(d), 0.0);
  sd.assign(static_cast<std::size_t>(d), 0.0);
  for (int j = 0; j < d; ++j) {
    double s = 0, lo = INFINITY, hi = -INFINITY;
    for (std::size_t i = 0; i < n; ++i) {
      const double v = x[i * d + j];
      s += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    mean[j] = lo == hi ? lo : s / n;
    double ss = 0;
    for (std::size_t i = 0; i < n; ++i) ss += (x[i * d + j] - mean[j]) * (x[i * d + j] - mean[j]);
    sd[j] = (n >= 2 && lo != hi) ? std::sqrt(ss / (n - 1)) : 0.0;
  }
}

std::vector<double> standardised(std::vector<double> x, int d, const std::vector<double>& mean,
                                 const std::vector<double>& sd) {
  for (std::size_t k = 0; k < x.size(); ++k) {
    const std::size_t j = k % static_cast<std::size_t>(d);
    x[k] = sd[j] == 0 ? 0.0 : (x[k] - mean[j]) / sd[j];
  }
  return x;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (std::size_t k = 0; k < a.size(); ++k) m = std::max(m, std::abs(a[k] - b[k]));
  return m;
}

/// The message of the Error(input) thrown on this rank ("" if none).
std::string input_error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.kind() == ErrorKind::input ? std::string(e.what())
                                        : "<wrong kind> " + std::string(e.what());
  }
  return "";
}

/// Every rank threw an input error containing `fragment`, and all messages are equal.
void check_agreed_input_error(const std::string& message, const std::string& fragment) {
  const bool here = !message.empty() && message.find(fragment) != std::string::npos;
  // Same message everywhere: compare lengths and a hash.
  const double h = static_cast<double>(std::hash<std::string>{}(message) % 1000003);
  const bool same = test::max_over_ranks(h) == -test::max_over_ranks(-h);
  BOOST_CHECK_MESSAGE(test::all_ranks(here && same), "expected an agreed input error with \""
                                                         << fragment << "\", got \"" << message
                                                         << "\"");
}

/// Check one Dataset of load_train_test against the serial reference.
void check_dataset(const data::Dataset& set, const std::vector<std::int64_t>& selection,
                   const std::vector<int>& source_labels, const std::vector<double>& expected,
                   int d, const std::string& what) {
  const auto got = la::replicate(set.x);
  const double tol = 64.0 * std::max<std::size_t>(selection.size(), 1) * test::kEps;
  const double err = max_abs_diff(got, expected);
  BOOST_CHECK_MESSAGE(test::all_ranks(err <= tol), what << ": max error " << err << " > " << tol);
  DEEPRFM_CHECK_ALL(set.n() == static_cast<int>(selection.size()) && set.dim() == d);
  DEEPRFM_CHECK_ALL(set.source_index == selection);
  bool labels_ok =
      set.labels.size() == selection.size() && std::is_sorted(set.labels.begin(), set.labels.end());
  for (std::size_t i = 0; labels_ok && i < selection.size(); ++i)
    labels_ok = set.labels[i] == source_labels[static_cast<std::size_t>(selection[i])];
  DEEPRFM_CHECK_ALL(labels_ok);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_CASE(synthetic_set_matches_serial_standardisation_on_every_grid) {
  auto world = mpi::Communicator::world();
  data::DataOptions o;
  o.kind = "synthetic";
  o.dim = 11;
  o.classes = 3;
  o.separation = 1.5;
  o.seed = 2024;
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    for (int block : {1, 3, 8}) {
      for (std::int64_t n : {2, 37, 64}) {
        o.n = n;
        o.n_test = 13;
        // Every class needs a training sample (load_train_test refuses an absent one): two
        // rows hold two classes.
        o.classes = n < 3 ? 2 : 3;
        const auto tt = data::load_train_test(o, grid, block);
        // Serial reference.
        data::SyntheticSource train(n, o.dim, o.classes, o.separation, o.seed,
                                    data::SyntheticStream::train);
        data::SyntheticSource test_src(13, o.dim, o.classes, o.separation, o.seed,
                                       data::SyntheticStream::test);
        const auto sel = data::select_class_balanced(train.labels(), o.classes, 0);
        const auto test_sel = data::select_class_balanced(test_src.labels(), o.classes, 0);
        const auto raw = read_selected(train, sel);
        std::vector<double> mean, sd;
        statistics_of(raw, o.dim, mean, sd);
        const std::string what =
            "synthetic " + shape.str() + " nb=" + std::to_string(block) + " n=" + std::to_string(n);
        check_dataset(tt.train, sel, train.labels(), standardised(raw, o.dim, mean, sd), o.dim,
                      what);
        check_dataset(tt.test, test_sel, test_src.labels(),
                      standardised(read_selected(test_src, test_sel), o.dim, mean, sd), o.dim,
                      what + " test");
        DEEPRFM_CHECK_ALL(max_abs_diff(tt.feature_mean, mean) <= 16 * n * test::kEps &&
                          max_abs_diff(tt.feature_std, sd) <= 16 * n * test::kEps);
        DEEPRFM_CHECK_ALL(tt.train.classes == o.classes && tt.test.classes == o.classes);
        DEEPRFM_CHECK_ALL(!tt.description.empty());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(synthetic_generation_does_not_depend_on_rank_count) {
  // The distributed matrix equals, bit for bit, what one process generates alone; and a run on
  // a sub-communicator of one rank gives the same bits as the whole world.
  auto world = mpi::Communicator::world();
  const int n = 41, d = 9;
  data::SyntheticSource serial(n, d, 4, 1.0, 99, data::SyntheticStream::train);
  std::vector<double> expected(static_cast<std::size_t>(n) * d);
  serial.read_rows(0, n, expected.data());
  std::vector<std::int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    data::SyntheticSource s(n, d, 4, 1.0, 99, data::SyntheticStream::train);
    const auto x = data::read_distributed(s, all, grid, 4, "training", 3 * d * sizeof(double));
    DEEPRFM_CHECK_ALL(la::replicate(x) == expected);
  }
  auto self = world.split(world.rank(), 0);
  la::ProcessGrid one(self, {1, 1});
  data::DataOptions o;
  o.kind = "synthetic";
  o.n = 30;
  o.dim = 5;
  o.n_test = -1;
  const auto alone = la::replicate(data::load_train_test(o, one, 4).train.x);
  la::ProcessGrid everyone(world, la::most_square_shape(world.size()));
  const auto together = la::replicate(data::load_train_test(o, everyone, 4).train.x);
  // Standardisation sums in a rank-dependent order: equal to round-off.
  DEEPRFM_CHECK_ALL(max_abs_diff(alone, together) <= 16 * 30 * test::kEps);
}

BOOST_AUTO_TEST_CASE(scattered_selection_with_tiny_read_chunks) {
  // A selection with gaps larger and smaller than the read-through limit, duplicates excluded,
  // read with windows of 1..5 rows: many rounds, ranks with different round counts.
  auto world = mpi::Communicator::world();
  const int n = 300, d = 6;
  data::SyntheticSource s(n, d, 5, 1.0, 3, data::SyntheticStream::train);
  std::vector<std::int64_t> sel;
  for (std::int64_t i = 0; i < n; ++i)
    if ((i * 7919) % 11 < 3 || (i > 200 && i < 230)) sel.push_back(i);
  std::reverse(sel.begin(), sel.begin() + static_cast<std::ptrdiff_t>(sel.size() / 2));
  const auto expected = read_selected(s, sel);
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    for (std::size_t chunk_rows : {1, 2, 5, 1000}) {
      const auto x =
          data::read_distributed(s, sel, grid, 2, "training", chunk_rows * d * sizeof(double));
      DEEPRFM_CHECK_ALL(la::replicate(x) == expected);
    }
    // An empty selection gives an empty matrix everywhere.
    const auto empty = data::read_distributed(s, {}, grid, 2, "training");
    DEEPRFM_CHECK_ALL(empty.rows() == 0 && empty.cols() == d);
  }
}

BOOST_AUTO_TEST_CASE(test_set_with_training_or_own_statistics) {
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  data::DataOptions o;
  o.kind = "synthetic";
  o.n = 40;
  o.n_test = 25;
  o.dim = 7;
  o.classes = 5;
  o.separation = 2.0;
  data::SyntheticSource train(40, 7, 5, 2.0, o.seed, data::SyntheticStream::train);
  data::SyntheticSource test_src(25, 7, 5, 2.0, o.seed, data::SyntheticStream::test);
  const auto sel = data::select_class_balanced(train.labels(), 5, 0);
  const auto test_sel = data::select_class_balanced(test_src.labels(), 5, 0);
  std::vector<double> tr_mean, tr_sd, te_mean, te_sd;
  statistics_of(read_selected(train, sel), 7, tr_mean, tr_sd);
  const auto test_raw = read_selected(test_src, test_sel);
  statistics_of(test_raw, 7, te_mean, te_sd);

  const auto by_train = data::load_train_test(o, grid, 3);
  check_dataset(by_train.test, test_sel, test_src.labels(),
                standardised(test_raw, 7, tr_mean, tr_sd), 7, "test with training statistics");
  o.test_own_statistics = true;
  const auto by_own = data::load_train_test(o, grid, 3);
  check_dataset(by_own.test, test_sel, test_src.labels(), standardised(test_raw, 7, te_mean, te_sd),
                7, "test with its own statistics");
  // Its own statistics make every test column mean 0 and std 1; the reported statistics stay
  // the training ones.
  // Sums of n O(1) standardised values: 16 n eps as for the statistics above (n = 25 test rows).
  std::vector<double> m, sd;
  statistics_of(la::replicate(by_own.test.x), 7, m, sd);
  const double own_tol = test::tol(25, 16);
  double own_worst = 0;
  for (int j = 0; j < 7; ++j)
    own_worst = std::max({own_worst, std::abs(m[j]), std::abs(sd[j] - 1)});
  BOOST_TEST_MESSAGE("own statistics: worst " << own_worst << " (tolerance " << own_tol << ")");
  bool unit = true;
  for (int j = 0; j < 7; ++j)
    unit = unit && std::abs(m[j]) < own_tol && std::abs(sd[j] - 1) < own_tol;
  DEEPRFM_CHECK_ALL(unit);
  // The training means (n = 40 rows of O(1) values) in another summation order.
  BOOST_TEST_MESSAGE("training means: " << max_abs_diff(by_own.feature_mean, tr_mean));
  DEEPRFM_CHECK_ALL(max_abs_diff(by_own.feature_mean, tr_mean) <= test::tol(40, 8));
  DEEPRFM_CHECK_ALL(by_own.description.find("its own statistics") != std::string::npos);
  // n_test = -1: no test set.
  o.n_test = -1;
  const auto none = data::load_train_test(o, grid, 3);
  DEEPRFM_CHECK_ALL(none.test.n() == 0 && none.train.n() == 40);
}

BOOST_AUTO_TEST_CASE(idx_fixture_through_load_train_test_on_every_grid) {
  auto world = mpi::Communicator::world();
  data::DataOptions o;
  o.kind = "mnist";
  o.data_dir = (kFixtures / "idx-tiny").string();
  o.classes = 3;
  const auto train = data::open_idx_source(o.data_dir, true);
  const auto test_src = data::open_idx_source(o.data_dir, false);
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    for (std::int64_t n : {0, 7}) {
      o.n = n;
      o.n_test = n == 0 ? 0 : 4;
      const auto tt = data::load_train_test(o, grid, 2);
      const auto sel = data::select_class_balanced(train->labels(), 3, n);
      // The test set is the first n_test points by default (DataOptions::test_selection).
      const auto test_sel = data::select_first(test_src->labels(), 3, o.n_test);
      const auto raw = read_selected(*train, sel);
      std::vector<double> mean, sd;
      statistics_of(raw, 12, mean, sd);
      check_dataset(tt.train, sel, train->labels(), standardised(raw, 12, mean, sd), 12,
                    "idx train " + shape.str());
      check_dataset(tt.test, test_sel, test_src->labels(),
                    standardised(read_selected(*test_src, test_sel), 12, mean, sd), 12,
                    "idx test " + shape.str());
    }
  }
}

BOOST_AUTO_TEST_CASE(npy_with_constant_feature_and_non_finite_values) {
  auto world = mpi::Communicator::world();
  SharedTempDir tmp;
  const int n = 30, d = 4;
  std::vector<float> x(static_cast<std::size_t>(n) * d);
  std::vector<std::int32_t> y(n);
  for (int i = 0; i < n; ++i) {
    y[static_cast<std::size_t>(i)] = (i * 5) % 3;
    for (int j = 0; j < d; ++j)
      x[static_cast<std::size_t>(i * d + j)] =
          j == 2 ? 0.1f : static_cast<float>(std::sin(i * 1.3 + j));
  }
  if (test::world_rank() == 0) {
    test::write_npy_array(tmp.path / "train_X.npy", "<f4", {n, d}, x);
    test::write_npy_array(tmp.path / "train_y.npy", "<i4", {n}, y);
    test::write_npy_array(tmp.path / "test_X.npy", "<f4", {n, d}, x);
    test::write_npy_array(tmp.path / "labels.npy", "<i4", {n}, y);
    auto bad = x;
    bad[static_cast<std::size_t>(17 * d + 1)] = NAN;
    bad[static_cast<std::size_t>(23 * d + 3)] = INFINITY;
    test::write_npy_array(tmp.path / "nan_X.npy", "<f4", {n, d}, bad);
    test::write_npy_array(tmp.path / "nan_y.npy", "<i4", {n}, y);
    std::vector<float> wide(static_cast<std::size_t>(n) * (d + 1), 0.5f);
    test::write_npy_array(tmp.path / "wide_X.npy", "<f4", {n, d + 1}, wide);
    test::write_npy_array(tmp.path / "wide_y.npy", "<i4", {n}, y);
    test::write_npy_array(tmp.path / "short_y.npy", "<i4", {n - 1},
                          std::vector<std::int32_t>(y.begin(), y.end() - 1));
    test::write_npy_array(tmp.path / "big_y.npy", "<i4", {n}, std::vector<std::int32_t>(n, 7));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  data::DataOptions o;
  o.kind = "npy";
  o.train_file = (tmp.path / "train_X.npy").string();
  o.test_file = (tmp.path / "test_X.npy").string();
  o.test_labels_file = (tmp.path / "labels.npy").string();
  o.n = 0;
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    const auto tt = data::load_train_test(o, grid, 4);
    data::NpySource src(o.train_file, (tmp.path / "train_y.npy").string());
    const auto sel = data::select_class_balanced(src.labels(), 3, 0);
    const auto raw = read_selected(src, sel);
    std::vector<double> mean, sd;
    statistics_of(raw, d, mean, sd);
    DEEPRFM_CHECK_ALL(sd[2] == 0.0 && tt.feature_std[2] == 0.0 &&
                      tt.feature_mean[2] == static_cast<double>(0.1f));
    check_dataset(tt.train, sel, src.labels(), standardised(raw, d, mean, sd), d,
                  "npy " + shape.str());
    DEEPRFM_CHECK_ALL(tt.train.classes == 3);  // max label + 1

    // NaN in sample 17 (first bad), Inf in 23: the training set is named, on every rank.
    data::DataOptions bad = o;
    bad.train_file = (tmp.path / "nan_X.npy").string();
    check_agreed_input_error(input_error_of([&] { data::load_train_test(bad, grid, 4); }),
                             "training set: sample 17");
    bad = o;
    bad.test_file = (tmp.path / "nan_X.npy").string();
    bad.test_labels_file.clear();
    check_agreed_input_error(input_error_of([&] { data::load_train_test(bad, grid, 4); }),
                             "test set: sample 17");
    // Dimension mismatch between the sets; sample/label count mismatch; n too large; labels
    // outside the classes; a missing file.
    bad = o;
    bad.test_file = (tmp.path / "wide_X.npy").string();
    bad.test_labels_file.clear();
    check_agreed_input_error(input_error_of([&] { data::load_train_test(bad, grid, 4); }),
                             "has 5 features");
    bad = o;
    bad.train_labels_file = (tmp.path / "short_y.npy").string();
    check_agreed_input_error(input_error_of([&] { data::load_train_test(bad, grid, 4); }),
                             "count mismatch");
    bad = o;
    bad.n = 31;
    check_agreed_input_error(input_error_of([&] { data::load_train_test(bad, grid, 4); }),
                             "only 30 are available");
    bad = o;
    bad.test_labels_file = (tmp.path / "big_y.npy").string();
    check_agreed_input_error(input_error_of([&] { data::load_train_test(bad, grid, 4); }),
                             "label 7 of sample 0 is outside [0, 3)");
    bad = o;
    bad.train_file = (tmp.path / "missing_X.npy").string();
    check_agreed_input_error(input_error_of([&] { data::load_train_test(bad, grid, 4); }),
                             "missing_X.npy: no such file");
  }
}

BOOST_AUTO_TEST_CASE(first_and_balanced_selections_of_both_sets) {
  // Training labels: 20 samples alternating 0/1, then 10 of class 2. Test labels: class 2 has
  // only two samples, at positions 8 and 9.
  auto world = mpi::Communicator::world();
  SharedTempDir tmp;
  const int n = 30, n_t = 12, d = 3;
  std::vector<std::int32_t> y(n), y_t = {0, 1, 0, 1, 0, 1, 0, 1, 2, 2, 0, 1};
  for (int i = 0; i < n; ++i) y[static_cast<std::size_t>(i)] = i < 20 ? i % 2 : 2;
  auto values = [](int rows, double shift) {
    std::vector<double> x(static_cast<std::size_t>(rows) * d);
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < d; ++j)
        x[static_cast<std::size_t>(i * d + j)] = std::cos(0.7 * i + 1.9 * j) + shift;
    return x;
  };
  const auto x = values(n, 0.0), x_t = values(n_t, 0.25);
  if (test::world_rank() == 0) {
    test::write_npy_array(tmp.path / "train_X.npy", "<f8", {n, d}, x);
    test::write_npy_array(tmp.path / "train_y.npy", "<i4", {n}, y);
    test::write_npy_array(tmp.path / "test_X.npy", "<f8", {n_t, d}, x_t);
    test::write_npy_array(tmp.path / "test_y.npy", "<i4", {n_t}, y_t);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  data::DataOptions o;
  o.kind = "npy";
  o.train_file = (tmp.path / "train_X.npy").string();
  o.test_file = (tmp.path / "test_X.npy").string();
  data::NpySource train(o.train_file, (tmp.path / "train_y.npy").string());
  data::NpySource test_src(o.test_file, (tmp.path / "test_y.npy").string());
  using V = std::vector<std::int64_t>;
  // The serial references, written out: stably sorted by class.
  V first24;  // samples 0..23: the even ones below 20, the odd ones, then 20..23
  for (int i = 0; i < 20; i += 2) first24.push_back(i);
  for (int i = 1; i < 20; i += 2) first24.push_back(i);
  for (int i = 20; i < 24; ++i) first24.push_back(i);
  const V first8_test = {0, 2, 4, 6, 1, 3, 5, 7};     // no sample of class 2
  const V first9_test = {0, 2, 4, 6, 1, 3, 5, 7, 8};  // one of class 2
  const V balanced6_test = {0, 2, 1, 3, 8, 9};        // two of each class
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    const std::string where = " " + shape.str();
    // --selection first: the first 24 in file order (4 of class 2, 10 of the others).
    o.selection = data::Selection::first;
    o.n = 24;
    o.n_test = 8;  // default test selection: first
    auto tt = data::load_train_test(o, grid, 2);
    const auto raw = read_selected(train, first24);
    std::vector<double> mean, sd;
    statistics_of(raw, d, mean, sd);
    DEEPRFM_CHECK_ALL(data::select_first(train.labels(), 3, 24) == first24);
    check_dataset(tt.train, first24, train.labels(), standardised(raw, d, mean, sd), d,
                  "first 24" + where);
    // The test set lacks class 2: loaded all the same, and the log says so.
    check_dataset(tt.test, first8_test, test_src.labels(),
                  standardised(read_selected(test_src, first8_test), d, mean, sd), d,
                  "first 8 test" + where);
    DEEPRFM_CHECK_ALL(tt.test.classes == 3);
    BOOST_TEST_MESSAGE(tt.description);
    DEEPRFM_CHECK_ALL(tt.description.find("first 24 samples, 3 classes (4..10 per class)") !=
                      std::string::npos);
    DEEPRFM_CHECK_ALL(tt.description.find("first 8 samples, 3 classes (0..4 per class; none of "
                                          "class 2)") != std::string::npos);
    // The balanced selection of 24 takes 8 of each class instead.
    o.selection = data::Selection::balanced;
    tt = data::load_train_test(o, grid, 2);
    DEEPRFM_CHECK_ALL(tt.train.source_index == data::select_class_balanced(train.labels(), 3, 24));
    DEEPRFM_CHECK_ALL(tt.train.source_index != first24);
    DEEPRFM_CHECK_ALL(tt.description.find("24 class-balanced samples, 3 classes (8 per class)") !=
                      std::string::npos);
    // Test points: 9 balanced need 3 of class 2, which has 2: refused; the first 9 are fine.
    o.n_test = 9;
    o.test_selection = data::Selection::balanced;
    check_agreed_input_error(input_error_of([&] { data::load_train_test(o, grid, 2); }),
                             "class 2 has only 2 samples");
    o.test_selection = data::Selection::first;
    tt = data::load_train_test(o, grid, 2);
    DEEPRFM_CHECK_ALL(tt.test.source_index == first9_test);
    o.n_test = 6;
    o.test_selection = data::Selection::balanced;
    tt = data::load_train_test(o, grid, 2);
    DEEPRFM_CHECK_ALL(tt.test.source_index == balanced6_test);
    o.test_selection = data::Selection::first;
    // n_test = 0: all of them, in either mode.
    o.n_test = 0;
    tt = data::load_train_test(o, grid, 2);
    DEEPRFM_CHECK_ALL(tt.test.source_index == data::select_class_balanced(test_src.labels(), 3, 0));
    DEEPRFM_CHECK_ALL(tt.description.find("all 12 samples") != std::string::npos);
    // A training set without a sample of some class is refused (the first 20 hold no class 2;
    // so do 2 balanced samples of 3 classes), as is asking for more than there are.
    o.selection = data::Selection::first;
    o.n = 20;
    check_agreed_input_error(input_error_of([&] { data::load_train_test(o, grid, 2); }),
                             "class 2 has no sample in the selection (first 20 samples");
    o.selection = data::Selection::balanced;
    o.n = 2;
    check_agreed_input_error(input_error_of([&] { data::load_train_test(o, grid, 2); }),
                             "class 2 has no sample in the selection (2 class-balanced samples");
    o.selection = data::Selection::first;
    o.n = 31;
    check_agreed_input_error(input_error_of([&] { data::load_train_test(o, grid, 2); }),
                             "only 30 are available");
    o.n = 0;
    o.n_test = 13;
    check_agreed_input_error(input_error_of([&] { data::load_train_test(o, grid, 2); }),
                             "asked for 13 samples but only 12 are available");
    o.n_test = 0;
  }
}

BOOST_AUTO_TEST_CASE(synthetic_sets_are_used_whole_in_either_selection) {
  // A synthetic set is generated at its size, so both selections take every sample.
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  data::DataOptions o;
  o.kind = "synthetic";
  o.n = 23;
  o.n_test = 11;
  o.dim = 5;
  o.classes = 4;
  const auto balanced = data::load_train_test(o, grid, 3);
  o.selection = data::Selection::first;
  o.test_selection = data::Selection::balanced;  // 11 test points of 4 classes: 3, 3, 3, 2
  const auto first = data::load_train_test(o, grid, 3);
  DEEPRFM_CHECK_ALL(balanced.train.source_index == first.train.source_index &&
                    balanced.test.source_index == first.test.source_index);
  DEEPRFM_CHECK_ALL(first.train.n() == 23 && first.test.n() == 11);
  DEEPRFM_CHECK_ALL(la::replicate(balanced.train.x) == la::replicate(first.train.x) &&
                    la::replicate(balanced.test.x) == la::replicate(first.test.x));
}

namespace {
/// Synthetic rows, but reading any row >= `poison` throws (only the rank holding it fails),
/// and read calls are counted (to check collective sources are called in lockstep).
class FlakySource final : public data::SampleSource {
 public:
  FlakySource(std::int64_t n, std::int64_t poison, bool collective)
      : inner_(n, 3, 2, 1.0, 5, data::SyntheticStream::train),
        poison_(poison),
        collective_(collective) {}
  std::int64_t size() const override { return inner_.size(); }
  int dim() const override { return inner_.dim(); }
  const std::vector<int>& labels() const override { return inner_.labels(); }
  void read_rows(std::int64_t first, std::int64_t count, double* out) override {
    ++calls;
    DEEPRFM_CHECK(first + count <= poison_, input,
                  "flaky source: cannot read row " << first + count - 1);
    inner_.read_rows(first, count, out);
  }
  bool collective_reads() const override { return collective_; }
  std::string describe() const override { return "flaky"; }
  int calls = 0;

 private:
  data::SyntheticSource inner_;
  std::int64_t poison_;
  bool collective_;
};
}  // namespace

BOOST_AUTO_TEST_CASE(a_read_failing_on_one_rank_fails_everywhere_without_hanging) {
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  const int n = 64;
  std::vector<std::int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  // The last rank's share contains row 63.
  FlakySource flaky(n, 63, false);
  check_agreed_input_error(
      input_error_of(
          [&] { data::read_distributed(flaky, all, grid, 4, "training", 4 * 3 * sizeof(double)); }),
      "cannot read row 63");
  // A collective source is called the same number of times on every rank, even when the
  // shares need different numbers of windows.
  FlakySource collective(n, n, true);
  std::vector<std::int64_t> uneven;
  for (std::int64_t i = 0; i < n; ++i)
    if (i < 8 || i % 9 == 0) uneven.push_back(i);
  const auto x =
      data::read_distributed(collective, uneven, grid, 4, "training", 2 * 3 * sizeof(double));
  const double calls = collective.calls;
  DEEPRFM_CHECK_ALL(test::max_over_ranks(calls) == -test::max_over_ranks(-calls));
  DEEPRFM_CHECK_ALL(x.rows() == static_cast<int>(uneven.size()));
}

BOOST_AUTO_TEST_CASE(fashion_mnist_300_points) {
  const fs::path dir = test::fashion_mnist_dir();
  if (!test::require_fashion_mnist(dir)) return;  // a failure, not a skip
  auto world = mpi::Communicator::world();
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));
  data::DataOptions o;  // fashion-mnist
  o.data_dir = dir.string();
  o.n = 300;
  o.n_test = 100;
  const auto tt = data::load_train_test(o, grid, 32);
  DEEPRFM_CHECK_ALL(tt.train.n() == 300 && tt.train.dim() == 784 && tt.test.n() == 100 &&
                    tt.test.dim() == 784 && tt.train.classes == 10);
  DEEPRFM_CHECK_ALL(std::is_sorted(tt.train.labels.begin(), tt.train.labels.end()));
  std::vector<int> per_class(10, 0), per_class_test(10, 0);
  for (int y : tt.train.labels) ++per_class[static_cast<std::size_t>(y)];
  for (int y : tt.test.labels) ++per_class_test[static_cast<std::size_t>(y)];
  DEEPRFM_CHECK_ALL(per_class == std::vector<int>(10, 30));
  // The test set is the first 100 test images (the default test selection), sorted by class;
  // asked for, the balanced selection takes 10 of each class.
  std::vector<std::int64_t> test_rows = tt.test.source_index;
  std::sort(test_rows.begin(), test_rows.end());
  std::vector<std::int64_t> first_100(100);
  std::iota(first_100.begin(), first_100.end(), std::int64_t(0));
  DEEPRFM_CHECK_ALL(test_rows == first_100 &&
                    std::is_sorted(tt.test.labels.begin(), tt.test.labels.end()));
  std::ostringstream counts;
  for (int c : per_class_test) counts << " " << c;
  BOOST_TEST_MESSAGE("Fashion-MNIST: the first 100 test images per class:" << counts.str());
  data::DataOptions balanced = o;
  balanced.test_selection = data::Selection::balanced;
  const auto tb = data::load_train_test(balanced, grid, 32);
  std::vector<int> per_class_balanced(10, 0);
  for (int y : tb.test.labels) ++per_class_balanced[static_cast<std::size_t>(y)];
  DEEPRFM_CHECK_ALL(per_class_balanced == std::vector<int>(10, 10));
  // Standardised training columns: mean 0 and std 1 (or constant 0), all finite.
  std::vector<double> mean, sd;
  const auto x = la::replicate(tt.train.x);
  statistics_of(x, 784, mean, sd);
  // Means and stds of n = 300 standardised values: 8 n eps (values O(1)).
  const double stat_tol = test::tol(300, 8);
  bool ok = std::all_of(x.begin(), x.end(), [](double v) { return std::isfinite(v); });
  double stat_worst = 0;
  for (int j = 0; j < 784; ++j) {
    ok = ok && std::abs(mean[j]) < stat_tol &&
         (tt.feature_std[j] == 0 ? sd[j] == 0 : std::abs(sd[j] - 1) < stat_tol);
    stat_worst = std::max(stat_worst, std::abs(mean[j]));
    if (tt.feature_std[j] != 0) stat_worst = std::max(stat_worst, std::abs(sd[j] - 1));
  }
  BOOST_TEST_MESSAGE("Fashion-MNIST statistics: worst " << stat_worst << " (tolerance " << stat_tol
                                                        << ")");
  DEEPRFM_CHECK_ALL(ok);
  // The first selected sample of class 0 is the first class-0 image of the file, pixel-exact.
  data::IdxSource raw(data::find_idx_file(dir.string(), "train-images-idx3-ubyte"),
                      data::find_idx_file(dir.string(), "train-labels-idx1-ubyte"));
  std::vector<double> row(784);
  raw.read_rows(tt.train.source_index[0], 1, row.data());
  // The same mean and std on both sides: a subtraction and a division (or a multiplication by
  // the reciprocal) each, relative to the value: 4 eps.
  double err = 0;
  for (int j = 0; j < 784; ++j) {
    const double expect =
        tt.feature_std[j] == 0 ? 0 : (row[j] - tt.feature_mean[j]) / tt.feature_std[j];
    err = std::max(err, std::abs(expect - x[j]) / std::max(1.0, std::abs(expect)));
  }
  BOOST_TEST_MESSAGE("first sample: relative error " << err);
  DEEPRFM_CHECK_ALL(err <= test::tol(1, 4) &&
                    raw.labels()[static_cast<std::size_t>(tt.train.source_index[0])] == 0);
  BOOST_TEST_MESSAGE(tt.description);
}
