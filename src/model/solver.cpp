#include <deeprfm/model/solver.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <deeprfm/base/error.hpp>
#include <deeprfm/mpi/comm_counters.hpp>
#include <deeprfm/base/fault_injection.hpp>
#include <deeprfm/mpi/timer.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::model {

namespace {
void add_to_diagonal(la::DistMatrix<double>& k, double value) {
  if (value == 0.0) return;
  const auto& rmap = k.dist().rows();
  for (int lj = 0; lj < k.local_cols(); ++lj) {
    const la::GlobalIndex g(k.global_col(lj));
    if (g.value < k.rows() && rmap.is_mine(g)) k.local(rmap.to_local(g).value, lj) += value;
  }
}
}  // namespace

SolveReport cholesky_solve(la::DistMatrix<double>& k, double ridge, la::DistMatrix<double>& y,
                           const std::string& context, double k_one_norm) {
  DEEPRFM_CHECK_ABOUT(ridge >= 0.0 && std::isfinite(ridge), input, "ridge",
                      "the ridge must be a finite number >= 0, got " << ridge);
  DEEPRFM_ASSERT(k.rows() == k.cols() && y.rows() == k.rows());
  const auto& comm = k.grid().full();
  add_to_diagonal(k, ridge);
  SolveReport report;
  const double t0 = wall_seconds();
  const CommCounters b0 = comm_counters();
  if (k_one_norm >= 0.0) {
    // Every diagonal entry is >= 0, so adding mu to it adds mu to every column's sum.
    report.anorm = k_one_norm + ridge;
  } else {
    report.anorm = la::scalapack::lansy_one('L', k);
  }
  std::int64_t local_info = la::scalapack::potrf('L', k);
  // Test-only: act out a pdpotrf failure on one rank (DEEPRFM_FAULT=scalapack@R:L:factorization).
  if (fault_requested_in_context("scalapack", comm.rank())) local_info = 7;
  // A negative info (illegal argument) on any rank wins over a positive one.
  const std::int64_t low = -comm.max(-local_info), high = comm.max(local_info);
  const int info = static_cast<int>(low < 0 ? low : high);
  // `info` is the same on every rank (reduced above); run_agreed marks the error as agreed.
  mpi::run_agreed(comm, [&] {
    DEEPRFM_CHECK_ABOUT(
        info <= 0, numerical, "ridge",
        context << ": the kernel matrix K + " << ridge
                << " I is not numerically positive definite (Cholesky failed at pivot " << info
                << " of " << k.rows()
                << "); no ridge is added silently: rerun with a ridge of 1e-3 (what the "
                   "authors' code uses) or larger, or check the data for duplicate "
                   "samples");
    DEEPRFM_CHECK(info == 0, internal,
                  context << ": pdpotrf reported an illegal argument (info " << info << ")");
  });
  int cinfo = 0;
  report.rcond = la::scalapack::pocon('L', k, report.anorm, cinfo);
  const double t1 = wall_seconds();
  const CommCounters b1 = comm_counters();
  const int sinfo = la::scalapack::potrs('L', k, y);
  report.seconds_factorization = t1 - t0;
  report.seconds_solve = wall_seconds() - t1;
  const CommCounters b2 = comm_counters();
  report.bytes_factorization = static_cast<double>(b1.bytes - b0.bytes);
  report.bytes_solve = static_cast<double>(b2.bytes - b1.bytes);
  report.off_node_bytes_factorization = static_cast<double>(b1.off_node_bytes - b0.off_node_bytes);
  report.off_node_bytes_solve = static_cast<double>(b2.off_node_bytes - b1.off_node_bytes);
  DEEPRFM_AGREE(comm, sinfo == 0 && cinfo == 0, internal,
                context << ": pdpotrs/pdpocon failed with info " << sinfo << "/" << cinfo);
  return report;
}

void fill_targets(la::DistMatrix<double>& y, const std::vector<int>& labels) {
  y.for_each_local([&](int gi, int gj, double& v) {
    v = labels[static_cast<std::size_t>(gi)] == gj ? 1.0 : -1.0;
  });
}

void fill_real_targets(la::DistMatrix<double>& y, const std::vector<double>& targets) {
  const auto k = static_cast<std::size_t>(y.cols());
  DEEPRFM_ASSERT(targets.size() == static_cast<std::size_t>(y.rows()) * k);
  y.for_each_local([&](int gi, int gj, double& v) {
    v = targets[static_cast<std::size_t>(gi) * k + static_cast<std::size_t>(gj)];
  });
}

RegressionMetrics regression_metrics(const la::DistMatrix<double>& predictions,
                                     const std::vector<double>& targets) {
  const int n = predictions.rows(), k = predictions.cols();
  const auto uk = static_cast<std::size_t>(k);
  DEEPRFM_ASSERT(targets.size() == static_cast<std::size_t>(n) * uk);
  RegressionMetrics m;
  if (n == 0) {
    m.mse = m.r2 = std::numeric_limits<double>::quiet_NaN();
    return m;
  }
  // Column means of Y (replicated: every rank computes the same values).
  std::vector<double> mean(uk, 0.0);
  for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i)
    for (std::size_t j = 0; j < uk; ++j) mean[j] += targets[i * uk + j];
  for (auto& v : mean) v /= n;
  double sums[2] = {0.0, 0.0};  // Σ (P - Y)² over my entries, Σ (Y - ȳ)² over my entries
  predictions.for_each_local([&](int gi, int gj, const double& p) {
    const double y = targets[static_cast<std::size_t>(gi) * uk + static_cast<std::size_t>(gj)];
    sums[0] += (p - y) * (p - y);
    sums[1] += (y - mean[static_cast<std::size_t>(gj)]) * (y - mean[static_cast<std::size_t>(gj)]);
  });
  const auto& comm = predictions.grid().full();
  comm.sum_in_place(sums, 2);
  // Every rank holds the same sums after the reduction; rank 0's are broadcast to be bitwise
  // sure (the reduction order is the same on every rank in Open MPI, but that is not promised).
  comm.broadcast(sums, 2, 0);
  m.mse = sums[0] / (static_cast<double>(n) * k);
  m.r2 = sums[1] > 0 ? 1.0 - sums[0] / sums[1] : std::numeric_limits<double>::quiet_NaN();
  return m;
}

double relative_residual(const la::DistMatrix<double>& k, double ridge,
                         const la::DistMatrix<double>& a, const la::DistMatrix<double>& y) {
  la::DistMatrix<double> r(y.grid(), y.rows(), y.cols(), y.dist().rows().block(),
                           y.dist().cols().block());
  // r = mu A - Y, then r += K A.
  for (int lj = 0; lj < r.local_cols(); ++lj)
    for (int li = 0; li < r.local_rows(); ++li)
      r.local(li, lj) = ridge * a.local(li, lj) - y.local(li, lj);
  la::scalapack::gemm('N', 'N', 1.0, k, a, 1.0, r);
  const double ynorm = la::scalapack::lange('F', y);
  return ynorm > 0 ? la::scalapack::lange('F', r) / ynorm : 0.0;
}

}  // namespace deeprfm::model
