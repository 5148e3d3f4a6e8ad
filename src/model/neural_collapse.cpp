#include <deeprfm/model/neural_collapse.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <deeprfm/base/error.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::model {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
/// Row panel of the centred features in pass 3, in elements (2 MiB): bounds the extra memory
/// to a panel instead of a copy of the whole local block.
constexpr std::size_t kPanelElements = std::size_t(1) << 18;

/// Validate the labels against n rows and count the classes.
/// The labels are replicated and n is the global row count, so every rank reaches the same
/// verdict from the same data: a plain (local) DEEPRFM_CHECK throws the same Error(input) on
/// every rank before any collective call. The callers run it inside an agreement, so that the
/// error is marked agreed and ends with one message (not one per rank and an MPI_Abort).
std::vector<std::int64_t> count_classes(int n, const std::vector<int>& labels, int classes) {
  DEEPRFM_CHECK(classes >= 1, input,
                "neural-collapse metrics: need at least one class, got " << classes);
  DEEPRFM_CHECK(static_cast<std::int64_t>(labels.size()) == n, input,
                "neural-collapse metrics: " << labels.size() << " labels for " << n << " samples");
  std::vector<std::int64_t> counts(static_cast<std::size_t>(classes), 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const int c = labels[i];
    DEEPRFM_CHECK(c >= 0 && c < classes, input,
                  "neural-collapse metrics: label " << c << " of sample " << i << " is outside [0, "
                                                    << classes << ")");
    ++counts[static_cast<std::size_t>(c)];
  }
  for (int c = 0; c < classes; ++c)
    DEEPRFM_CHECK(counts[static_cast<std::size_t>(c)] > 0, input,
                  "neural-collapse metrics: class " << c << " has no samples");
  return counts;
}

/// Class of every local row and global index of every local column of `h`.
struct LocalIndexTables {
  std::vector<int> row_class;
  std::vector<int> col_global;
};

LocalIndexTables local_tables(const la::DistMatrix<double>& h, const std::vector<int>& labels) {
  LocalIndexTables t;
  t.row_class.resize(static_cast<std::size_t>(h.local_rows()));
  for (int li = 0; li < h.local_rows(); ++li)
    t.row_class[static_cast<std::size_t>(li)] = labels[static_cast<std::size_t>(h.global_row(li))];
  t.col_global.resize(static_cast<std::size_t>(h.local_cols()));
  for (int lj = 0; lj < h.local_cols(); ++lj)
    t.col_global[static_cast<std::size_t>(lj)] = h.global_col(lj);
  return t;
}

/// Local sums of (h_ij - shift[c_i, j]) into out (classes x p, row-major, zeroed first).
void local_class_sums(const la::DistMatrix<double>& h, const LocalIndexTables& t,
                      const double* shift, std::vector<double>& out) {
  std::fill(out.begin(), out.end(), 0.0);
  const std::size_t p = static_cast<std::size_t>(h.cols());
  for (int lj = 0; lj < h.local_cols(); ++lj) {
    const std::size_t gj = static_cast<std::size_t>(t.col_global[static_cast<std::size_t>(lj)]);
    for (int li = 0; li < h.local_rows(); ++li) {
      const std::size_t at =
          static_cast<std::size_t>(t.row_class[static_cast<std::size_t>(li)]) * p + gj;
      out[at] += h.local(li, lj) - (shift ? shift[at] : 0.0);
    }
  }
}

/// Class means from validated counts (see class_means). Collective over the grid of h.
std::vector<double> class_means_counted(const la::DistMatrix<double>& h,
                                        const std::vector<int>& labels, int classes,
                                        const std::vector<std::int64_t>& counts) {
  const auto& full = h.grid().full();
  const std::size_t p = static_cast<std::size_t>(h.cols());
  const std::size_t cp = static_cast<std::size_t>(classes) * p;
  const LocalIndexTables t = local_tables(h, labels);

  // Pass 1: plain sums.
  std::vector<double> means(cp), work(cp);
  local_class_sums(h, t, nullptr, means);
  full.sum_in_place(means.data(), cp);
  for (std::size_t c = 0; c < static_cast<std::size_t>(classes); ++c)
    for (std::size_t j = 0; j < p; ++j) means[c * p + j] /= static_cast<double>(counts[c]);

  // Pass 2: the mean of the residuals corrects the rounding of pass 1 (whose error scales with
  // the size of the features, not with their spread around the mean).
  local_class_sums(h, t, means.data(), work);
  full.sum_in_place(work.data(), cp);
  for (std::size_t c = 0; c < static_cast<std::size_t>(classes); ++c)
    for (std::size_t j = 0; j < p; ++j)
      means[c * p + j] += work[c * p + j] / static_cast<double>(counts[c]);

  // MPI does not promise that an Allreduce leaves bitwise equal results on every rank; one
  // broadcast of C x p does, so everything derived from the means is rank-independent.
  full.broadcast(means.data(), cp, 0);
  return means;
}

/// || M M^T - target ||_F for the rows of `rows` (C x p, row-major) normalised to unit length;
/// target has `diag` on the diagonal and `off` elsewhere. NaN if a row has norm 0. Local.
double gram_deviation(std::vector<double> rows, int classes, int p, double diag, double off) {
  const std::size_t pp = static_cast<std::size_t>(p);
  for (int c = 0; c < classes; ++c) {
    double* r = rows.data() + static_cast<std::size_t>(c) * pp;
    // Scaled norm (like dnrm2) so tiny or huge features do not under/overflow.
    double scale = 0;
    for (std::size_t j = 0; j < pp; ++j) scale = std::max(scale, std::abs(r[j]));
    if (!(scale > 0)) return kNaN;
    double ss = 0;
    for (std::size_t j = 0; j < pp; ++j) ss += (r[j] / scale) * (r[j] / scale);
    const double norm = scale * std::sqrt(ss);
    for (std::size_t j = 0; j < pp; ++j) r[j] /= norm;
  }
  // Row-major C x p is column-major p x C (= M^T); M M^T = (M^T)^T (M^T).
  std::vector<double> g(static_cast<std::size_t>(classes) * classes);
  const int ld = std::max(p, 1);
  const double one = 1.0, zero = 0.0;
  dgemm_("T", "N", &classes, &classes, &p, &one, rows.data(), &ld, rows.data(), &ld, &zero,
         g.data(), &classes);
  double ss = 0;
  for (int a = 0; a < classes; ++a)
    for (int b = 0; b < classes; ++b) {
      const double d = g[static_cast<std::size_t>(b) * classes + a] - (a == b ? diag : off);
      ss += d * d;
    }
  return std::sqrt(ss);
}

/// Eigen-decomposition of the C x C between-class Gram matrix B B^T / C on rank 0 of the
/// grid, broadcast to all: out = [info, w_0..w_{C-1} (ascending), V (C x C column-major)].
/// Collective over the grid.
std::vector<double> between_gram_eigen(const std::vector<double>& centred, int classes, int p,
                                       const mpi::Communicator& full) {
  const std::size_t cc = static_cast<std::size_t>(classes) * classes;
  std::vector<double> out(1 + static_cast<std::size_t>(classes) + cc, 0.0);
  if (full.rank() == 0) {
    std::vector<double> g(cc);
    const int ld = std::max(p, 1);
    const double inv_c = 1.0 / classes, zero = 0.0;
    dgemm_("T", "N", &classes, &classes, &p, &inv_c, centred.data(), &ld, centred.data(), &ld,
           &zero, g.data(), &classes);
    int lwork = -1, liwork = -1, info = 0, iwork_query = 0;
    double work_query = 0;
    double* w = out.data() + 1;
    dsyevd_("V", "U", &classes, g.data(), &classes, w, &work_query, &lwork, &iwork_query, &liwork,
            &info);
    if (info == 0) {
      lwork = static_cast<int>(work_query);
      liwork = iwork_query;
      std::vector<double> work(static_cast<std::size_t>(std::max(lwork, 1)));
      std::vector<int> iwork(static_cast<std::size_t>(std::max(liwork, 1)));
      dsyevd_("V", "U", &classes, g.data(), &classes, w, work.data(), &lwork, iwork.data(), &liwork,
              &info);
    }
    out[0] = info;
    std::copy(g.begin(), g.end(), out.begin() + 1 + classes);
  }
  // info travels with the result, so every rank sees the same status and fails together.
  full.broadcast(out.data(), out.size(), 0);
  return out;
}

}  // namespace

double pinv_relative_threshold(int classes, int features) {
  return static_cast<double>(std::max(classes, 1)) * std::max(features, 1) *
         std::numeric_limits<double>::epsilon();
}

std::vector<double> class_means(const la::DistMatrix<double>& h, const std::vector<int>& labels,
                                int classes) {
  // The same verdict on every rank, agreed so that it ends as one error, not one per rank.
  std::vector<std::int64_t> counts;
  mpi::run_agreed(h.grid().full(), [&] { counts = count_classes(h.rows(), labels, classes); });
  return class_means_counted(h, labels, classes, counts);
}

CollapseMetrics neural_collapse(const la::DistMatrix<double>& h, const std::vector<int>& labels,
                                int classes) {
  // Checked from global sizes only: the same verdict on every rank (see count_classes), agreed
  // so that it ends as one error, not one per rank.
  std::vector<std::int64_t> counts;
  mpi::run_agreed(h.grid().full(), [&] {
    DEEPRFM_CHECK(classes >= 2, input,
                  "neural-collapse metrics need at least 2 classes, got " << classes);
    counts = count_classes(h.rows(), labels, classes);
  });
  const auto& grid = h.grid();
  const auto& full = grid.full();
  const int n = h.rows();
  const int p = h.cols();
  const std::size_t pp = static_cast<std::size_t>(p);
  const std::size_t cc = static_cast<std::size_t>(classes);

  const std::vector<double> means = class_means_counted(h, labels, classes, counts);

  // Global mean = mean of the class means; centred means B (C x p, row-major), replicated.
  std::vector<double> global_mean(pp, 0.0);
  for (std::size_t c = 0; c < cc; ++c)
    for (std::size_t j = 0; j < pp; ++j) global_mean[j] += means[c * pp + j];
  for (double& v : global_mean) v /= classes;
  std::vector<double> centred(cc * pp);
  double trace_between = 0;
  for (std::size_t c = 0; c < cc; ++c)
    for (std::size_t j = 0; j < pp; ++j) {
      const double b = means[c * pp + j] - global_mean[j];
      centred[c * pp + j] = b;
      trace_between += b * b;
    }
  trace_between /= classes;

  // Sigma_B = B^T B / C has the nonzero eigenpairs (lambda_k, u_k = B^T v_k / sqrt(C lambda_k))
  // of the C x C matrix B B^T / C; the p x p matrix is never formed.
  const std::vector<double> eig = between_gram_eigen(centred, classes, p, full);
  DEEPRFM_CHECK(
      eig[0] == 0, numerical,
      "neural-collapse metrics: dsyevd of the between-class Gram matrix failed, info = " << eig[0]);
  const double* w = eig.data() + 1;
  const double* v = eig.data() + 1 + cc;
  const double lambda_max = w[cc - 1];
  const double cutoff = lambda_max * pinv_relative_threshold(classes, p);
  std::vector<int> kept;
  for (int k = 0; k < classes; ++k)
    if (lambda_max > 0 && w[k] > cutoff) kept.push_back(k);
  const int r = static_cast<int>(kept.size());
  const std::size_t rr = kept.size();

  // V_s (C x r, column-major): kept eigenvectors scaled by 1 / sqrt(C lambda_k).
  std::vector<double> vs(cc * rr);
  for (std::size_t k = 0; k < rr; ++k) {
    const std::size_t e = static_cast<std::size_t>(kept[k]);
    const double s = 1.0 / std::sqrt(classes * w[e]);
    for (std::size_t c = 0; c < cc; ++c) vs[k * cc + c] = v[e * cc + c] * s;
  }

  // Rows of U (p x r) for my local columns: U_loc = B_loc^T V_s, B_loc = C x (local cols).
  const LocalIndexTables t = local_tables(h, labels);
  const int lr = h.local_rows();
  const int lc = h.local_cols();
  std::vector<double> b_loc(cc * static_cast<std::size_t>(lc));
  for (int lj = 0; lj < lc; ++lj)
    for (std::size_t c = 0; c < cc; ++c)
      b_loc[static_cast<std::size_t>(lj) * cc + c] =
          centred[c * pp + static_cast<std::size_t>(t.col_global[static_cast<std::size_t>(lj)])];
  std::vector<double> u_loc(static_cast<std::size_t>(lc) * rr);
  const double one = 1.0, zero = 0.0;
  if (lc > 0 && r > 0)
    dgemm_("T", "N", &lc, &r, &classes, &one, b_loc.data(), &classes, vs.data(), &classes, &zero,
           u_loc.data(), &lc);

  // Pass 3 over row panels of the centred local block D = H_loc - mu_{c_i}: the within-class
  // sum of squares, and the partial projections P = D U_loc (local rows x r), BLAS-3.
  double within_local = 0;
  std::vector<double> proj(static_cast<std::size_t>(lr) * rr, 0.0);
  if (lr > 0 && lc > 0) {
    const int panel = static_cast<int>(std::clamp<std::size_t>(
        kPanelElements / static_cast<std::size_t>(lc), 1, static_cast<std::size_t>(lr)));
    std::vector<double> d(static_cast<std::size_t>(panel) * lc);
    for (int r0 = 0; r0 < lr; r0 += panel) {
      const int m = std::min(panel, lr - r0);
      for (int lj = 0; lj < lc; ++lj) {
        const std::size_t gj = static_cast<std::size_t>(t.col_global[static_cast<std::size_t>(lj)]);
        double col_ss = 0;  // per-column partial sums: blocked summation of the trace
        for (int i = 0; i < m; ++i) {
          const int li = r0 + i;
          const std::size_t c = static_cast<std::size_t>(t.row_class[static_cast<std::size_t>(li)]);
          const double x = h.local(li, lj) - means[c * pp + gj];
          d[static_cast<std::size_t>(lj) * m + i] = x;
          col_ss += x * x;
        }
        within_local += col_ss;
      }
      if (r > 0)
        dgemm_("N", "N", &m, &r, &lc, &one, d.data(), &m, u_loc.data(), &lc, &zero,
               proj.data() + r0, &lr);
    }
  }
  // (h_i - mu_c) . u_k: the feature columns of one sample are spread over my process row.
  grid.row_comm().sum_in_place(proj.data(), proj.size());
  double pinv_local = 0;
  if (grid.my_col() == 0) {  // each process row's complete projections, counted once
    for (std::size_t k = 0; k < rr; ++k) {
      double ss = 0;
      for (int li = 0; li < lr; ++li) {
        const double x = proj[k * static_cast<std::size_t>(lr) + static_cast<std::size_t>(li)];
        ss += x * x;
      }
      pinv_local += ss / w[kept[k]];
    }
  }
  double sums[2] = {within_local, pinv_local};
  full.sum_in_place(sums, 2);

  CollapseMetrics out;
  out.trace_within = sums[0] / n;
  out.trace_between = trace_between;
  out.nc1 = out.trace_within / out.trace_between;  // IEEE: +inf / NaN when Sigma_B = 0
  out.between_rank = r;
  out.nc1_pinv = r > 0 ? sums[1] / n / classes : kNaN;
  const double cm1 = classes - 1.0;
  out.nc2_etf = gram_deviation(centred, classes, p, 1.0, -1.0 / cm1);
  out.nc2_orth = gram_deviation(means, classes, p, 1.0, 0.0);

  // The reductions above may round differently per rank; rank 0's numbers are the result.
  double packed[7] = {out.nc1,
                      out.nc1_pinv,
                      out.nc2_etf,
                      out.nc2_orth,
                      out.trace_within,
                      out.trace_between,
                      static_cast<double>(out.between_rank)};
  full.broadcast(packed, 7, 0);
  out.nc1 = packed[0];
  out.nc1_pinv = packed[1];
  out.nc2_etf = packed[2];
  out.nc2_orth = packed[3];
  out.trace_within = packed[4];
  out.trace_between = packed[5];
  out.between_rank = static_cast<int>(packed[6]);
  return out;
}

}  // namespace deeprfm::model
