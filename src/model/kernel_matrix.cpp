#include <deeprfm/model/kernel_matrix.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include <deeprfm/base/error.hpp>
#include <deeprfm/mpi/timer.hpp>
#include <deeprfm/model/vector_math.hpp>
#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::model {

std::vector<double> row_squared_norms(const la::DistMatrix<double>& x) {
  std::vector<double> norms(static_cast<std::size_t>(x.rows()), 0.0);
  for (int lj = 0; lj < x.local_cols(); ++lj) {
    const double* col = &x.local(0, lj);
    for (int li = 0; li < x.local_rows(); ++li) {
      norms[static_cast<std::size_t>(x.global_row(li))] += col[li] * col[li];
    }
  }
  x.grid().full().sum_in_place(norms.data(), norms.size());
  return norms;
}

void normalize_rows(la::DistMatrix<double>& x, const char* what) {
  const std::vector<double> norms = row_squared_norms(x);
  // A row whose norm is at round-off level of the typical row is a zero row: normalising it
  // would turn rounding noise into a direction.
  double mean_norm2 = 0.0;
  for (double v : norms) mean_norm2 += std::isfinite(v) ? v : 0.0;
  mean_norm2 /= std::max<std::size_t>(norms.size(), 1);
  const double zero_threshold = 1e-24 * mean_norm2;  // (1e-12 of the typical norm)^2
  // `norms` is identical on every rank, so every rank reaches the same verdict; run_agreed
  // marks the error as agreed.
  mpi::run_agreed(x.grid().full(), [&] {
    for (std::size_t i = 0; i < norms.size(); ++i) {
      DEEPRFM_CHECK(std::isfinite(norms[i]), numerical,
                    what << ": sample " << i << " has a non-finite value (NaN or Inf)");
      DEEPRFM_CHECK(norms[i] > zero_threshold, input,
                    what << ": sample " << i
                         << " has zero norm and cannot be normalised (after standardisation it "
                            "equals the feature means, or all its features are constant)");
    }
  });
  std::vector<double> inv(norms.size());
  for (std::size_t i = 0; i < norms.size(); ++i) inv[i] = 1.0 / std::sqrt(norms[i]);
  for (int lj = 0; lj < x.local_cols(); ++lj) {
    double* col = &x.local(0, lj);
    for (int li = 0; li < x.local_rows(); ++li)
      col[li] *= inv[static_cast<std::size_t>(x.global_row(li))];
  }
}

std::vector<double> gather_rows(const la::DistMatrix<double>& x, const std::vector<int>& rows) {
  const int d = x.cols();
  std::vector<double> out(rows.size() * static_cast<std::size_t>(d), 0.0);
  const auto& rmap = x.dist().rows();
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const la::GlobalIndex g(rows[k]);
    if (!rmap.is_mine(g)) continue;
    const int li = rmap.to_local(g).value;
    for (int lj = 0; lj < x.local_cols(); ++lj) out[k * d + x.global_col(lj)] = x.local(li, lj);
  }
  x.grid().full().sum_in_place(out.data(), out.size());
  return out;
}

namespace {

struct NearPair {
  int li, lj;  // local position in the output
  int xrow, zrow;
};

std::vector<int> sorted_unique(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

int index_in(const std::vector<int>& sorted, int value) {
  return static_cast<int>(std::lower_bound(sorted.begin(), sorted.end(), value) - sorted.begin());
}

}  // namespace

KernelStats assemble_kernel(const model::Kernel& kernel, const la::DistMatrix<double>& x, int row0,
                            int m, const la::DistMatrix<double>& z, bool same_points,
                            la::DistMatrix<double>& out) {
  DEEPRFM_ASSERT(x.cols() == z.cols());
  DEEPRFM_ASSERT(out.rows() == m && out.cols() == z.rows());
  DEEPRFM_ASSERT(row0 >= 0 && row0 + m <= x.rows());
  DEEPRFM_ASSERT(!same_points || &x == &z);
  KernelStats stats;
  const auto& comm = x.grid().full();

  // 1. Gram matrix, BLAS-3: out = X(row0:row0+m, :) Z^T.
  double t0 = wall_seconds();
  la::scalapack::gemm('N', 'T', m, z.rows(), x.cols(), 1.0, x, row0, 0, z, 0, 0, 0.0, out, 0, 0);
  stats.seconds_gram = wall_seconds() - t0;

  // 2. Squared distances and kernel values on the local blocks.
  t0 = wall_seconds();
  const std::vector<double> xn = row_squared_norms(x);
  const std::vector<double> zn = same_points ? xn : row_squared_norms(z);
  std::vector<NearPair> near;
  const int lr = out.local_rows(), lc = out.local_cols();
  std::vector<int> grow(static_cast<std::size_t>(lr));
  // |K| summed down my part of each local column while the column is in cache: the 1-norm
  // the condition estimate needs, without a pass of pdlansy over K.
  std::vector<double> column_abs_sums(static_cast<std::size_t>(lc), 0.0);
  for (int li = 0; li < lr; ++li) grow[static_cast<std::size_t>(li)] = out.global_row(li) + row0;
  // Scalar pass: squared distances, the diagonal and the near pairs; then one vectorised pass
  // of exp (and sqrt) per column (model/vector_math.hpp).
  const double inv_s = 1.0 / kernel.bandwidth;
  const double gauss = 1.0 / (2.0 * kernel.bandwidth * kernel.bandwidth);
  for (int lj = 0; lj < lc; ++lj) {
    const int gj = out.global_col(lj);
    const double nz = zn[static_cast<std::size_t>(gj)];
    double* col = &out.local(0, lj);
    for (int li = 0; li < lr; ++li) {
      const int gi = grow[static_cast<std::size_t>(li)];
      const double nx = xn[static_cast<std::size_t>(gi)];
      double r2 = nx + nz - 2.0 * col[li];
      if (same_points && gi == gj) {  // gi is the row of x, row0 included
        r2 = 0.0;
      } else if (r2 < kNearPairRelativeTolerance * (nx + nz)) {
        near.push_back({li, lj, gi, gj});
      }
      col[li] = r2;
    }
    if (kernel.kind == model::KernelKind::laplace)
      model::laplace_values(col, lr, inv_s);
    else
      model::gaussian_values(col, lr, gauss);
    double sum = 0.0;
    for (int li = 0; li < lr; ++li) sum += std::abs(col[li]);
    column_abs_sums[static_cast<std::size_t>(lj)] = sum;
  }

  // 3. Near pairs: recompute r2 from differences of the rows, replicated just for them.
  const std::int64_t total_near = comm.sum(static_cast<std::int64_t>(near.size()));
  if (total_near > 0) {
    std::vector<int> my_x, my_z;
    my_x.reserve(near.size());
    my_z.reserve(near.size());
    for (const auto& p : near) {
      my_x.push_back(p.xrow);
      my_z.push_back(p.zrow);
    }
    if (same_points) {  // one set of rows serves both sides
      my_x.insert(my_x.end(), my_z.begin(), my_z.end());
      my_z.clear();
    }
    const std::vector<int> ux = sorted_unique(comm.all_gather(sorted_unique(my_x)));
    const std::vector<int> uz =
        same_points ? ux : sorted_unique(comm.all_gather(sorted_unique(my_z)));
    const std::int64_t values = (static_cast<std::int64_t>(ux.size()) +
                                 (same_points ? 0 : static_cast<std::int64_t>(uz.size()))) *
                                x.cols();
    if (values <= kNearPairRowBudget) {
      const std::vector<double> xr = gather_rows(x, ux);
      const std::vector<double> zr = same_points ? std::vector<double>() : gather_rows(z, uz);
      const std::vector<double>& zrows = same_points ? xr : zr;
      const int d = x.cols();
      std::int64_t coincident = 0;
      for (const auto& p : near) {
        const double* a = &xr[static_cast<std::size_t>(index_in(ux, p.xrow)) * d];
        const double* b = &zrows[static_cast<std::size_t>(index_in(uz, p.zrow)) * d];
        double r2 = 0.0;
        for (int k = 0; k < d; ++k) {
          const double diff = a[k] - b[k];
          r2 += diff * diff;
        }
        if (std::sqrt(r2) < model::kLaplaceGradientCutoff) ++coincident;
        column_abs_sums[static_cast<std::size_t>(p.lj)] +=
            std::abs(kernel.value(r2)) - std::abs(out.local(p.li, p.lj));
        out.local(p.li, p.lj) = kernel.value(r2);
        stats.local_near_pairs.push_back({p.li, p.lj, r2});
      }
      stats.near_pairs = total_near;
      stats.coincident_pairs = comm.sum(coincident);
    } else {
      stats.near_pairs_unrecomputed = total_near;
      // Over budget: these pairs keep the Gram-expanded distance (reported, never hidden).
      // A pair whose expanded r2 is within rounding of zero is taken as coincident (r = 0:
      // k = 1 and dropped from the AGOP) rather than given a huge spurious weight 1/r.
      std::int64_t coincident = 0;
      for (const auto& p : near) {
        const double nx = xn[static_cast<std::size_t>(p.xrow)];
        const double nz = zn[static_cast<std::size_t>(p.zrow)];
        const double k = out.local(p.li, p.lj);
        double r2 = kernel.squared_distance_from_value(k);
        if (r2 <= 16.0 * std::numeric_limits<double>::epsilon() * (nx + nz)) {
          r2 = 0.0;
          column_abs_sums[static_cast<std::size_t>(p.lj)] +=
              std::abs(kernel.value(0.0)) - std::abs(k);
          out.local(p.li, p.lj) = kernel.value(0.0);
          ++coincident;
        }
        stats.local_near_pairs.push_back({p.li, p.lj, r2});
      }
      stats.coincident_pairs = comm.sum(coincident);
    }
  }
  // Whole columns (summed over the process column), then the largest over all ranks.
  out.grid().col_comm().sum_in_place(column_abs_sums.data(), column_abs_sums.size());
  double largest = 0.0;
  for (double v : column_abs_sums) largest = std::max(largest, v);
  stats.one_norm = comm.max(largest);
  stats.seconds_elementwise = wall_seconds() - t0;
  return stats;
}

void kernel_to_gradient_weights(const model::Kernel& kernel, const KernelStats& stats,
                                la::DistMatrix<double>& k) {
  if (kernel.kind == model::KernelKind::gaussian) return;  // w = k
  const int lr = k.local_rows(), lc = k.local_cols();
  // Near pairs first (their exact distance), remembered before the sweep overwrites k.
  std::vector<double> near_weights;
  near_weights.reserve(stats.local_near_pairs.size());
  for (const auto& p : stats.local_near_pairs)
    near_weights.push_back(kernel.gradient_weight(k.local(p.li, p.lj), p.r2));
  for (int lj = 0; lj < lc; ++lj)
    model::laplace_weights_from_values(&k.local(0, lj), lr, kernel.bandwidth,
                                       model::kLaplaceGradientCutoff);
  for (std::size_t q = 0; q < near_weights.size(); ++q)
    k.local(stats.local_near_pairs[q].li, stats.local_near_pairs[q].lj) = near_weights[q];
}

}  // namespace deeprfm::model
