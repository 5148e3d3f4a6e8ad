#pragma once
/// Kernel ridge(less) regression: (K + mu I) A = Y by ScaLAPACK Cholesky (pdpotrf/pdpotrs).
#include <deeprfm/la/dist_matrix.hpp>

namespace deeprfm::model {

/// What the solve reports; identical on every rank.
struct SolveReport {
  double rcond = 0;                  ///< reciprocal 1-norm condition estimate of K + mu I (pdpocon)
  double anorm = 0;                  ///< ||K + mu I||_1
  double seconds_factorization = 0;  ///< (pdlansy +) pdpotrf + pdpocon (this rank)
  double seconds_solve = 0;          ///< pdpotrs
  double bytes_factorization = 0;    ///< bytes this rank sent in the factorisation
  double bytes_solve = 0;            ///< bytes this rank sent in pdpotrs
  double off_node_bytes_factorization = 0;  ///< the part of bytes_factorization sent off-node
  double off_node_bytes_solve = 0;          ///< the part of bytes_solve sent off-node
};

/// Factor K + mu I in place (lower triangle; `k` then holds the Cholesky factor) and
/// overwrite `y` (n x C) with A. mu >= 0 is added to the diagonal here and nowhere else:
/// no ridge is ever added silently. A failed factorisation (the ridgeless system is not
/// numerically positive definite) throws the same Error(numerical) on every rank, naming
/// `context` (e.g. "layer 3") and the failing pivot, and suggesting --ridge. `k_one_norm`,
/// if >= 0, is ||K||_1 before the ridge (KernelStats::one_norm of its assembly; K's diagonal
/// must be >= 0, as k(0) = 1 is): it saves pdlansy's pass over K; otherwise pdlansy computes
/// ||K + mu I||_1. Collective.
SolveReport cholesky_solve(la::DistMatrix<double>& k, double ridge, la::DistMatrix<double>& y,
                           const std::string& context, double k_one_norm = -1.0);

/// The ±1 one-hot target matrix Y (n x C) of docs/numerics.md §1 for replicated labels. Local.
void fill_targets(la::DistMatrix<double>& y, const std::vector<int>& labels);

/// Y (n x k) from replicated real-valued targets, row-major n x k (regression). Local.
void fill_real_targets(la::DistMatrix<double>& y, const std::vector<double>& targets);

/// Regression metrics of predictions P (n x k, block-cyclic) against replicated row-major
/// targets Y: mse = (1/(n k)) Σ (P - Y)², r2 = 1 - Σ (P - Y)² / Σ (Y - ȳ_col)² (ȳ_col the mean
/// of each target column over the n rows; NaN when every column is constant). n = 0 gives NaN.
/// Identical on every rank. Collective over the grid of `predictions`.
struct RegressionMetrics {
  double mse = 0;
  double r2 = 0;
};
RegressionMetrics regression_metrics(const la::DistMatrix<double>& predictions,
                                     const std::vector<double>& targets);

/// ||(K + mu I) A - Y||_F / ||Y||_F. Uses one n x C temporary. Collective.
double relative_residual(const la::DistMatrix<double>& k, double ridge,
                         const la::DistMatrix<double>& a, const la::DistMatrix<double>& y);

}  // namespace deeprfm::model
