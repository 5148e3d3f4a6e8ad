#pragma once
// Helpers shared by the tests: pass/fail agreed over ranks before asserting, n*eps tolerances,
// temporary directories and grid shapes to sweep.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <mpi.h>

#include <deeprfm/data/idx.hpp>
#include <deeprfm/la/process_grid.hpp>

namespace deeprfm::test {

/// True on every rank iff `local` is true on every rank. Collective over MPI_COMM_WORLD.
inline bool all_ranks(bool local) {
  int in = local ? 1 : 0, out = 0;
  MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return out != 0;
}

/// Largest value over ranks. Collective over MPI_COMM_WORLD.
inline double max_over_ranks(double local) {
  double out = 0;
  MPI_Allreduce(&local, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return out;
}

inline int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
inline int world_size() {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

inline constexpr double kEps = std::numeric_limits<double>::epsilon();
/// For the tolerances of the inherently single-precision paths (--precision mixed).
inline constexpr double kFloatEps = std::numeric_limits<float>::epsilon();

/// `factor` roundings of relative size `eps` on each of `n` terms: factor * n * eps. Every
/// tolerance of the suite is written so (docs/numerics.md §12), with a one-line justification
/// where the factor is not obvious (e.g. a condition number). Local.
inline constexpr double tol(double n, double factor, double eps = kEps) { return factor * n * eps; }

/// Every grid shape that uses all ranks of the world (1xP, Px1 and the ones between): 1x4, 2x2,
/// 4x1 at 4 ranks; 1x6, 2x3, 3x2, 6x1 at 6.
inline std::vector<la::GridShape> all_grid_shapes() {
  std::vector<la::GridShape> shapes;
  const int p = world_size();
  for (int r = 1; r <= p; ++r)
    if (p % r == 0) shapes.push_back({r, p / r});
  return shapes;
}

/// Records the shapes of the grids a sweep really built (read back from the grids) and checks,
/// at the end, that they are exactly all_grid_shapes(), and that the rectangular ones with
/// Pr != Pc > 1 (2x3 and 3x2 at 6 ranks) are among them whenever the world size has any. Rank 0
/// prints the list, so the np6 entries show it in `ctest -V` and LastTest.log.
class GridCoverage {
 public:
  explicit GridCoverage(std::string sweep) : sweep_(std::move(sweep)) {}
  /// Local.
  void saw(const la::ProcessGrid& grid) { seen_.insert({grid.rows(), grid.cols()}); }
  /// Collective over MPI_COMM_WORLD (the checks are combined over ranks).
  void check() const {
    std::set<std::pair<int, int>> expected, rectangular;
    for (const auto& s : all_grid_shapes()) {
      expected.insert({s.rows, s.cols});
      if (s.rows != s.cols && s.rows > 1 && s.cols > 1) rectangular.insert({s.rows, s.cols});
    }
    std::ostringstream list;
    for (const auto& [r, c] : seen_) list << ' ' << r << 'x' << c;
    bool all_rectangular = true;
    for (const auto& s : rectangular) all_rectangular = all_rectangular && seen_.count(s) == 1;
    if (world_rank() == 0)
      std::cout << sweep_ << ": " << world_size() << " ranks, grids" << list.str() << " ("
                << rectangular.size() << " with Pr != Pc > 1)" << std::endl;
    BOOST_TEST_INFO(sweep_ << ": grids" << list.str());
    BOOST_CHECK(all_ranks(seen_ == expected));
    BOOST_CHECK(all_ranks(all_rectangular));
  }

 private:
  std::string sweep_;
  std::set<std::pair<int, int>> seen_;
};

/// A directory unique to this test run, created by rank 0 and shared by all ranks (same node).
/// Collective over MPI_COMM_WORLD.
inline std::filesystem::path shared_temp_dir(const std::string& tag) {
  char buf[4096] = {0};
  if (world_rank() == 0) {
    std::string templ =
        (std::filesystem::temp_directory_path() / ("deeprfm-" + tag + "-XXXXXX")).string();
    std::vector<char> t(templ.begin(), templ.end());
    t.push_back('\0');
    const char* made = mkdtemp(t.data());
    std::string path = made ? made : "";
    std::snprintf(buf, sizeof(buf), "%s", path.c_str());
  }
  MPI_Bcast(buf, sizeof(buf), MPI_CHAR, 0, MPI_COMM_WORLD);
  return std::filesystem::path(buf);
}

/// Removes a shared temporary directory when the test ends (rank 0, after every rank is done).
/// Collective over MPI_COMM_WORLD.
struct TempDirGuard {
  std::filesystem::path dir;
  ~TempDirGuard() {
    MPI_Barrier(MPI_COMM_WORLD);
    std::error_code ec;
    if (world_rank() == 0 && !dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

/// The fix that every missing-test-dependency failure names: setup.sh --tests installs Python 3
/// with h5py, numpy and matplotlib, the Fashion-MNIST files and Slurm.
inline constexpr const char* kSetupFix = "run bash scripts/setup.sh --tests";

/// The Fashion-MNIST folder the tests read: DEEPRFM_TEST_FASHION_MNIST_DIR if set (another copy,
/// or a missing folder to see the failure below), else data::kFashionMnistDefaultDir. Local.
inline std::filesystem::path fashion_mnist_dir() {
  const char* dir = std::getenv("DEEPRFM_TEST_FASHION_MNIST_DIR");
  return dir && *dir ? std::filesystem::path(dir)
                     : std::filesystem::path(data::kFashionMnistDefaultDir);
}

/// True if the four Fashion-MNIST IDX files (plain or .gz) are in `dir`; otherwise a test
/// failure naming the missing file, the Debian package and the fix, and false. A missing data
/// set fails, it does not skip: these are the suite's only checks on real data, and setup.sh
/// installs it. Collective over MPI_COMM_WORLD (the verdict is agreed: every rank returns alike).
inline bool require_fashion_mnist(const std::filesystem::path& dir) {
  std::string missing;
  for (const char* base : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    const auto plain = dir / base;
    if (missing.empty() && !std::filesystem::exists(plain) &&
        !std::filesystem::exists(dir / (std::string(base) + ".gz")))
      missing = plain.string();
  }
  const bool ok = all_ranks(missing.empty());
  BOOST_CHECK_MESSAGE(ok, "Fashion-MNIST is not installed: "
                              << (missing.empty() ? "a file is absent on another rank"
                                                  : missing + "[.gz] is absent")
                              << " (Debian package dataset-fashion-mnist); " << kSetupFix);
  return ok;
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// |a - b| / max(|a|, |b|) (0 if both are 0; NaN if either is NaN).
inline double rel_diff(double a, double b) {
  const double scale = std::max(std::abs(a), std::abs(b));
  return scale == 0 ? 0.0 : std::abs(a - b) / scale;
}

/// max |a_i - b_i| / max |b_i| (absolute when b is all zeros).
inline double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale == 0 ? m : m / scale;
}

}  // namespace deeprfm::test

/// Check a condition combined over all ranks (every rank must reach it).
#define DEEPRFM_CHECK_ALL(cond) BOOST_CHECK(::deeprfm::test::all_ranks(static_cast<bool>(cond)))
#define DEEPRFM_REQUIRE_ALL(cond) BOOST_REQUIRE(::deeprfm::test::all_ranks(static_cast<bool>(cond)))
