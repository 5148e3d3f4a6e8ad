#pragma once
/// S = G^{1/2} of a symmetric positive semi-definite matrix by eigendecomposition (LAPACK
/// dsyevd), negative eigenvalues (round-off) clipped to zero (docs/numerics.md §8).
#include <vector>

#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::la {

struct MatrixSqrt {
  std::vector<double> sqrt;         ///< d x d, row-major, symmetric
  std::vector<double> eigenvalues;  ///< of G, ascending, before clipping
  int clipped = 0;                  ///< eigenvalues < 0 set to 0
};

/// Square root of the replicated d x d matrix `g`, computed on rank 0 (threaded LAPACK beats
/// ScaLAPACK for d in the thousands on a node) and broadcast, so every rank holds identical
/// bits. Collective over comm.
MatrixSqrt symmetric_sqrt(const std::vector<double>& g, int d, const mpi::Communicator& comm);

}  // namespace deeprfm::la
