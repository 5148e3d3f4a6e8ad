#pragma once
/// Mixed precision for the kernel ridge(less) regression (docs/performance.md): the n x n
/// kernel matrix is stored and factored in single precision (half the memory, about twice the
/// speed), and a double-precision solution is recovered by iterative refinement whose
/// residuals are computed in double against the kernel rebuilt panel by panel on the fly —
/// the kernel is never stored in double.
#include <string>
#include <vector>

#include <deeprfm/model/kernel_matrix.hpp>

namespace deeprfm::model {

/// Rows of K (or W) formed at once in double when filling a single-precision matrix or
/// computing a residual: a multiple of block * grid rows, about n/16 (so the panel is ~1/8 of
/// the single-precision matrix). Local.
int panel_rows(int n, int block, int grid_rows);

/// Fill the single-precision n x n `out` with K (or, with `gradient_weights`, with the AGOP
/// weights W, docs/numerics.md §6) of the rows of x, panel by panel: each panel is assembled in
/// double (Gram by pdgemm, near pairs from differences) and rounded once. Collective.
KernelStats assemble_kernel_single(const model::Kernel& kernel, const la::DistMatrix<double>& x,
                                   bool gradient_weights, la::DistMatrix<float>& out);

/// r = Y - (K + mu I) A with K rebuilt in double panel by panel; returns ||r||_F / ||Y||_F.
/// When `k_times_a` is given it receives K A (the training predictions). Collective.
double residual_with_rebuilt_kernel(const model::Kernel& kernel, const la::DistMatrix<double>& x,
                                    double ridge, const la::DistMatrix<double>& a,
                                    const la::DistMatrix<double>& y, la::DistMatrix<double>& r,
                                    la::DistMatrix<double>* k_times_a);

/// What the refinement did; identical on every rank.
struct RefinementReport {
  std::vector<double> residuals;  ///< relative residual after each solve (the last is final)
  double rcond = 0;               ///< reciprocal condition estimate of K + mu I (single)
  double seconds_factorization = 0;
  double seconds_refinement = 0;
  int kernel_rebuilds = 0;                  ///< double-precision kernel passes (2 n^2 d flops each)
  double bytes_factorization = 0;           ///< bytes this rank sent in the factorisation
  double bytes_refinement = 0;              ///< bytes this rank sent in the refinement
  double off_node_bytes_factorization = 0;  ///< the part of bytes_factorization sent off-node
  double off_node_bytes_refinement = 0;     ///< the part of bytes_refinement sent off-node
};

/// The relative residual mixed_precision_solve refines to unless told otherwise (deeprfm uses
/// the smaller of this and --residual-tolerance).
inline constexpr double kRefinementTarget = 1e-10;

/// Solve (K + mu I) A = Y: `kf` holds K in single precision on entry (assemble_kernel_single)
/// and its Cholesky factor on exit; `a` holds Y on entry and A on exit; `predictions`
/// receives K A. Iterates A <- A + solve_single(Y - (K + mu I) A) until the relative residual
/// is <= `tolerance`. If the factorisation fails, or the residual stops decreasing (the
/// system is too ill-conditioned for single precision) or does not reach the tolerance in
/// `max_iterations`, every rank throws the same Error(numerical) saying what to do.
/// Collective.
RefinementReport mixed_precision_solve(
    const model::Kernel& kernel, const la::DistMatrix<double>& x, double ridge,
    la::DistMatrix<float>& kf, la::DistMatrix<double>& a, la::DistMatrix<double>& predictions,
    const std::string& context, double tolerance = kRefinementTarget, int max_iterations = 30);

}  // namespace deeprfm::model
