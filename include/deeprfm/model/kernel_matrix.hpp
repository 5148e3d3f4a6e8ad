#pragma once
/// Distributed kernel matrices K_ij = k(x_i, z_j): a distributed Gram matrix (pdgemm, BLAS-3)
/// turned into squared distances with the row norms, then elementwise kernel evaluation on
/// each rank's local blocks. Near pairs, whose Gram-expanded distance has lost its accuracy,
/// are recomputed from differences of the rows (see docs/numerics.md).
#include <cstdint>
#include <vector>

#include <deeprfm/model/kernel.hpp>
#include <deeprfm/la/dist_matrix.hpp>

namespace deeprfm::model {

/// A pair is "near" when its Gram-expanded squared distance is below this fraction of
/// ||x||^2 + ||z||^2: there the expansion keeps fewer than ~9 significant digits of r.
inline constexpr double kNearPairRelativeTolerance = 1e-6;

/// How many row values (rows x d) may be replicated on every rank to recompute near pairs.
inline constexpr std::int64_t kNearPairRowBudget = std::int64_t(8) << 20;  // 64 MiB of doubles

/// A near pair held by this rank: local position in the kernel matrix and its squared
/// distance as recomputed from differences.
struct LocalNearPair {
  int li, lj;
  double r2;
};

/// What the assembly found: counts summed over all ranks, and this rank's near pairs.
struct KernelStats {
  std::int64_t near_pairs = 0;               ///< pairs recomputed from differences
  std::int64_t near_pairs_unrecomputed = 0;  ///< near pairs left at Gram accuracy (over budget)
  std::int64_t coincident_pairs = 0;         ///< off-diagonal pairs at distance < 1e-10
  /// ||out||_1 of the block this call assembled (the largest column sum of |out|; a panel's
  /// own norm for a panel), the same on every rank; not set by assemble_kernel_single.
  double one_norm = 0;
  double seconds_gram = 0;
  double seconds_elementwise = 0;
  std::vector<LocalNearPair> local_near_pairs;  ///< this rank's (not summed)
};

/// Squared Euclidean norm of every row of x, replicated (length x.rows()). Collective.
std::vector<double> row_squared_norms(const la::DistMatrix<double>& x);

/// Scale every row of x to unit Euclidean norm (docs/numerics.md §2). A row of zero norm (or a
/// non-finite one) is an Error(input) naming the row, raised identically on every rank.
/// Collective.
void normalize_rows(la::DistMatrix<double>& x, const char* what);

/// out (m x z.rows()) = k(x_{row0 + i}, z_j) for i < m. x and z have the same number of
/// columns and live on the same grid; `out` must be m x z.rows() on that grid. With
/// `same_points` the diagonal is set
/// to k(0) exactly (with `same_points`, x and z must be the same object; row0 may be any:
/// the diagonal is where row0 + i == j). Collective over the grid.
KernelStats assemble_kernel(const model::Kernel& kernel, const la::DistMatrix<double>& x, int row0,
                            int m, const la::DistMatrix<double>& z, bool same_points,
                            la::DistMatrix<double>& out);

/// Replace a kernel matrix in place by its AGOP gradient weights w(r_ij) (docs/numerics.md §6): k/r
/// for Laplace (0 for r < 1e-10 and on the diagonal), k for Gaussian. r is recovered from k
/// (relative error s eps / r, at most ~1e-12 outside near pairs), except for the near pairs
/// of `stats` (from the assembly of this very matrix), whose exact r2 is used. Local.
void kernel_to_gradient_weights(const model::Kernel& kernel, const KernelStats& stats,
                                la::DistMatrix<double>& k);

/// The rows `rows` (sorted, unique global indices) of x, replicated on every rank as a
/// row-major rows.size() x x.cols() array. Collective.
std::vector<double> gather_rows(const la::DistMatrix<double>& x, const std::vector<int>& rows);

}  // namespace deeprfm::model
