#pragma once
/// The average gradient outer product of the kernel predictor over the training points
/// (docs/numerics.md §6), as dense matrix products:
///   J^(c) = t (W diag(a_c) X - diag(W a_c) X),   G = (1/n) sum_c J^(c)T J^(c),
/// with W the gradient-weight matrix (model::kernel_to_gradient_weights) and t the kernel's
/// gradient scale. 2 C n^2 d + C n d^2 + 2 n^2 C flops, all in (local) BLAS-3.
#include <vector>

#include <deeprfm/mpi/timer.hpp>
#include <deeprfm/model/kernel.hpp>
#include <deeprfm/la/dist_matrix.hpp>

namespace deeprfm::model {

/// The AGOP (d x d, row-major, symmetric), replicated on every rank. `w` is n x n, `x` n x d
/// (the points the predictor was trained on), `a` n x C (the coefficients). Each rank
/// accumulates its part of sum_c J^T J from local products with its block of W (see
/// src/model/agop.cpp); one MPI_Allreduce combines them. With W in single precision (mixed
/// precision) the products with W and their reduce-scatter run in single precision; J_R and G
/// are accumulated in double.
/// Collective over the grid.
template <class T>
std::vector<double> agop(const model::Kernel& kernel, const la::DistMatrix<T>& w,
                         const la::DistMatrix<double>& x, const la::DistMatrix<double>& a);

/// R G R for replicated row-major d x d matrices R (symmetric) and G: the AGOP G_u of a kernel
/// on the mapped points x R in the original coordinates (R = M^{1/2}, --iterations). Two local
/// DGEMMs, the result symmetrised ((B + B^T) / 2, so that every rank and the next square root
/// see an exactly symmetric matrix). Local; bitwise the same on every rank.
std::vector<double> sandwich(const std::vector<double>& r, const std::vector<double>& g, int d);

/// Flops of agop() for the given sizes (for the counters).
double agop_flops(double n, double d, double classes);

}  // namespace deeprfm::model
