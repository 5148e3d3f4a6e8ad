#pragma once
/// Neural-collapse metrics of distributed features (docs/numerics.md §10).
///
/// Conventions shared by every function here:
/// - Rows of the block-cyclic matrix are samples, columns are features; `labels[i]` is the
///   class of global row i and must be the same (replicated) vector on every rank.
/// - Input errors (wrong label count, a label outside [0, classes), an empty class) are
///   decided from replicated data only, so every rank throws the same Error(input) before
///   any collective call; no rank is left waiting.
/// - Every rank returns bitwise the same numbers (rank 0's result is broadcast), and the
///   numbers do not depend on the grid shape or block size beyond round-off.
#include <vector>

#include <deeprfm/la/dist_matrix.hpp>

namespace deeprfm::model {

/// The four collapse metrics of one set of features.
///
/// Degenerate features never throw; they give IEEE values a reader can recognise:
/// - all class means equal (Sigma_B = 0): nc1 = +inf (NaN if Sigma_W = 0 too), nc1_pinv = NaN;
/// - a centred class mean of norm 0 (mu_c = mu_G): nc2_etf = NaN;
/// - an uncentred class mean of norm 0: nc2_orth = NaN.
struct CollapseMetrics {
  double nc1 = 0;  ///< tr(Sigma_W) / tr(Sigma_B)
  /// tr(Sigma_W Sigma_B^+) / C. The pseudo-inverse keeps the eigenvalues of Sigma_B above
  /// lambda_max * C * p * eps (eps = double epsilon); smaller ones are treated as zero, i.e.
  /// as directions in which the class means do not differ (see between_rank).
  double nc1_pinv = 0;
  double nc2_etf = 0;        ///< || M M^T - Sigma_ETF ||_F, M = centred, normalised class means
  double nc2_orth = 0;       ///< || M M^T - I ||_F, M = uncentred, normalised class means
  double trace_within = 0;   ///< tr(Sigma_W)
  double trace_between = 0;  ///< tr(Sigma_B)
  int between_rank = 0;      ///< numerical rank of Sigma_B used by nc1_pinv (<= min(C-1, p))
};

/// Relative threshold of the pseudo-inverse in nc1_pinv: eigenvalues of Sigma_B at or below
/// lambda_max * pinv_relative_threshold(C, p) are dropped. Local (pure).
double pinv_relative_threshold(int classes, int features);

/// Metrics of features H (n x p, block-cyclic, rows = samples) with labels[i] in [0, classes)
/// for every global row i (replicated). Every class must have at least one sample, and
/// classes >= 2 (Sigma_ETF needs C - 1 > 0); otherwise every rank throws Error(input).
/// Cost: O(n p C) local work (BLAS-3) plus reductions of C x p; no n x n or p x p matrix is
/// formed, only C x C ones. Collective over the grid of H.
CollapseMetrics neural_collapse(const la::DistMatrix<double>& h, const std::vector<int>& labels,
                                int classes);

/// Class means (classes x p, row-major) of H, replicated on every rank (bitwise equal).
/// Computed in two passes (sums, then a correction from the residuals), so a large common
/// offset of the features does not cost accuracy. Every class must have a sample (else
/// Error(input) on every rank); classes >= 1. Collective over the grid of H.
std::vector<double> class_means(const la::DistMatrix<double>& h, const std::vector<int>& labels,
                                int classes);

/// Fraction of rows whose largest entry (argmax over the C columns; the first on ties) is at
/// the column of their label. `predictions` is n x C block-cyclic, labels replicated. NaN
/// entries never win the argmax; a row of NaNs counts as wrong. n = 0 gives NaN. A label
/// outside [0, C) is Error(input) on every rank. Collective over the grid of `predictions`.
double accuracy(const la::DistMatrix<double>& predictions, const std::vector<int>& labels);

}  // namespace deeprfm::model
