#include <deeprfm/model/mixed_precision.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include <deeprfm/mpi/comm_counters.hpp>
#include <deeprfm/base/error.hpp>
#include <deeprfm/base/fault_injection.hpp>
#include <deeprfm/mpi/timer.hpp>
#include <deeprfm/model/solver.hpp>
#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::model {

int panel_rows(int n, int block, int grid_rows) {
  const int unit = block * grid_rows;
  const int units = std::max(1, (n / 16) / unit);
  return std::max(1, std::min(n, units * unit));
}

namespace {

/// Visit K[r0 : r0 + m, :] in double, panel by panel (rows aligned with the row distribution
/// of every n x * matrix on the grid, so that panel local row li is global row r0 + its own
/// global row). Collective.
template <class Visit>
KernelStats for_each_kernel_panel(const model::Kernel& kernel, const la::DistMatrix<double>& x,
                                  bool gradient_weights, Visit&& visit) {
  const int n = x.rows(), block = x.dist().rows().block();
  const int rows = panel_rows(n, block, x.grid().rows());
  KernelStats total;
  for (int r0 = 0; r0 < n; r0 += rows) {
    const int m = std::min(rows, n - r0);
    la::DistMatrix<double> panel(x.grid(), m, n, block);
    KernelStats stats = assemble_kernel(kernel, x, r0, m, x, true, panel);
    if (gradient_weights) kernel_to_gradient_weights(kernel, stats, panel);
    total.near_pairs += stats.near_pairs;
    total.near_pairs_unrecomputed += stats.near_pairs_unrecomputed;
    total.coincident_pairs += stats.coincident_pairs;
    total.seconds_gram += stats.seconds_gram;
    total.seconds_elementwise += stats.seconds_elementwise;
    visit(r0, m, panel);
  }
  return total;
}

}  // namespace

KernelStats assemble_kernel_single(const model::Kernel& kernel, const la::DistMatrix<double>& x,
                                   bool gradient_weights, la::DistMatrix<float>& out) {
  const int n = x.rows();
  DEEPRFM_ASSERT(out.rows() == n && out.cols() == n);
  DEEPRFM_ASSERT(out.dist().rows().block() == x.dist().rows().block());
  const auto& omap = out.dist().rows();
  return for_each_kernel_panel(
      kernel, x, gradient_weights, [&](int r0, int, const la::DistMatrix<double>& panel) {
        // Rows r0.. of the panel start at a multiple of block * grid rows: its local row li is
        // local row (r0 / (block * Pr)) * block + li of `out`; the columns coincide.
        const int offset = omap.to_local(la::GlobalIndex(r0)).value;
        for (int lj = 0; lj < panel.local_cols(); ++lj)
          for (int li = 0; li < panel.local_rows(); ++li)
            out.local(offset + li, lj) = static_cast<float>(panel.local(li, lj));
      });
}

double residual_with_rebuilt_kernel(const model::Kernel& kernel, const la::DistMatrix<double>& x,
                                    double ridge, const la::DistMatrix<double>& a,
                                    const la::DistMatrix<double>& y, la::DistMatrix<double>& r,
                                    la::DistMatrix<double>* k_times_a) {
  const int classes = a.cols();
  la::DistMatrix<double> ka(a.grid(), a.rows(), classes, a.dist().rows().block());
  for_each_kernel_panel(kernel, x, false, [&](int r0, int m, const la::DistMatrix<double>& panel) {
    la::scalapack::gemm('N', 'N', m, classes, x.rows(), 1.0, panel, 0, 0, a, 0, 0, 0.0, ka, r0, 0);
  });
  for (int lj = 0; lj < r.local_cols(); ++lj)
    for (int li = 0; li < r.local_rows(); ++li)
      r.local(li, lj) = y.local(li, lj) - ridge * a.local(li, lj) - ka.local(li, lj);
  if (k_times_a != nullptr) *k_times_a = std::move(ka);
  const double ynorm = la::scalapack::lange('F', y);
  return ynorm > 0 ? la::scalapack::lange('F', r) / ynorm : 0.0;
}

RefinementReport mixed_precision_solve(const model::Kernel& kernel, const la::DistMatrix<double>& x,
                                       double ridge, la::DistMatrix<float>& kf,
                                       la::DistMatrix<double>& a,
                                       la::DistMatrix<double>& predictions,
                                       const std::string& context, double tolerance,
                                       int max_iterations) {
  const auto& comm = x.grid().full();
  const int n = x.rows(), classes = a.cols(), block = a.dist().rows().block();
  DEEPRFM_CHECK_ABOUT(ridge >= 0.0 && std::isfinite(ridge), input, "ridge",
                      "the ridge must be a finite number >= 0, got " << ridge);
  RefinementReport report;

  // Factor K + mu I in single precision.
  double t0 = wall_seconds();
  CommCounters b0 = comm_counters();
  if (ridge != 0.0) {
    const auto& rmap = kf.dist().rows();
    for (int lj = 0; lj < kf.local_cols(); ++lj) {
      const la::GlobalIndex g(kf.global_col(lj));
      if (rmap.is_mine(g)) kf.local(rmap.to_local(g).value, lj) += static_cast<float>(ridge);
    }
  }
  const double anorm = la::scalapack::lansy_one('L', kf);
  std::int64_t local_info = la::scalapack::potrf('L', kf);
  if (fault_requested_in_context("scalapack", comm.rank())) local_info = 7;
  const std::int64_t low = -comm.max(-local_info), high = comm.max(local_info);
  const int info = static_cast<int>(low < 0 ? low : high);
  mpi::run_agreed(comm, [&] {
    DEEPRFM_CHECK_ABOUT(
        info <= 0, numerical, "precision,ridge",
        context << ": the single-precision kernel matrix K + " << ridge
                << " I is not numerically positive definite (Cholesky failed at pivot " << info
                << " of " << n
                << "); use double precision, or a ridge (1e-3, what the "
                   "authors' code uses)");
    DEEPRFM_CHECK(info == 0, internal, context << ": pspotrf illegal argument " << info);
  });
  int cinfo = 0;
  report.rcond = la::scalapack::pocon('L', kf, anorm, cinfo);
  report.seconds_factorization = wall_seconds() - t0;
  CommCounters b1 = comm_counters();
  report.bytes_factorization = static_cast<double>(b1.bytes - b0.bytes);
  report.off_node_bytes_factorization = static_cast<double>(b1.off_node_bytes - b0.off_node_bytes);

  // Refinement: A_0 = 0, then A += solve_single(Y - (K + mu I) A).
  t0 = wall_seconds();
  b0 = comm_counters();
  la::DistMatrix<double> y(a.grid(), n, classes, block), r(a.grid(), n, classes, block);
  for (int lj = 0; lj < a.local_cols(); ++lj)
    for (int li = 0; li < a.local_rows(); ++li) {
      y.local(li, lj) = a.local(li, lj);
      r.local(li, lj) = a.local(li, lj);
      a.local(li, lj) = 0.0;
    }
  la::DistMatrix<float> rf(a.grid(), n, classes, block);
  double residual = 1.0;
  for (int it = 0;; ++it) {
    // Correction from the single-precision factor, scaled to avoid float underflow.
    const double scale = std::max(la::scalapack::lange('M', r), 1e-300);
    for (int lj = 0; lj < r.local_cols(); ++lj)
      for (int li = 0; li < r.local_rows(); ++li)
        rf.local(li, lj) = static_cast<float>(r.local(li, lj) / scale);
    const int sinfo = la::scalapack::potrs('L', kf, rf);
    DEEPRFM_AGREE(comm, sinfo == 0, internal, context << ": pspotrs info " << sinfo);
    for (int lj = 0; lj < a.local_cols(); ++lj)
      for (int li = 0; li < a.local_rows(); ++li)
        a.local(li, lj) += scale * static_cast<double>(rf.local(li, lj));
    residual = residual_with_rebuilt_kernel(kernel, x, ridge, a, y, r, &predictions);
    ++report.kernel_rebuilds;
    report.residuals.push_back(residual);
    if (residual <= tolerance) break;
    const std::size_t k = report.residuals.size();
    const bool stagnating = k >= 3 && report.residuals[k - 1] > 0.5 * report.residuals[k - 2] &&
                            report.residuals[k - 2] > 0.5 * report.residuals[k - 3];
    const bool diverging =
        !std::isfinite(residual) || (k >= 2 && residual > report.residuals[k - 2]);
    if (stagnating || diverging || it + 1 >= max_iterations) {
      std::ostringstream history;
      for (double v : report.residuals) history << " " << v;
      mpi::run_agreed(comm, [&] {
        DEEPRFM_THROW_ABOUT(
            numerical, "precision,ridge",
            context << ": mixed-precision refinement cannot reach the relative residual "
                    << tolerance << " (residuals:" << history.str() << "; reciprocal condition "
                    << report.rcond
                    << "): the kernel matrix is too ill-conditioned for single "
                       "precision; rerun in double precision, or with a ridge "
                       "(1e-3)");
      });
    }
  }
  report.seconds_refinement = wall_seconds() - t0;
  b1 = comm_counters();
  report.bytes_refinement = static_cast<double>(b1.bytes - b0.bytes);
  report.off_node_bytes_refinement = static_cast<double>(b1.off_node_bytes - b0.off_node_bytes);
  return report;
}

}  // namespace deeprfm::model
