#pragma once
/// The paper's Section 4 measurements of one hidden layer W = U Sigma V^T (docs/mlp.md,
/// Measurements): neural collapse of the layer input H, of Sigma V^T H and of ReLU(U Sigma V^T H),
/// and the Neural Feature Ansatz correlations between W^T W and the AGOP with respect to H.
#include <vector>

#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/model/neural_collapse.hpp>
#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::mlp {

/// Thin SVD data of a row-major rows x cols matrix W: the singular values (k = min(rows,
/// cols), descending) and Sigma V^T (k x cols, row-major).
struct RightSingularStructure {
  int k = 0;
  std::vector<double> singular_values;
  std::vector<double> sigma_vt;
};

/// LAPACK dgesdd on rank 0, broadcast, so every rank holds identical bits. A failure
/// (info != 0) is Error(numerical) on every rank. Collective over comm.
RightSingularStructure right_singular_structure(const std::vector<double>& w, int rows, int cols,
                                                const mpi::Communicator& comm);

/// The three stages of one layer.
struct LayerCollapse {
  model::CollapseMetrics input;      ///< of H (n x cols)
  model::CollapseMetrics projected;  ///< of (Sigma V^T H^T)^T = H V Sigma (n x k)
  model::CollapseMetrics mapped;     ///< of ReLU(H W^T) (n x rows)
  std::vector<double> singular_values;
};

/// Out = H M^T for a replicated row-major rows x cols matrix M, on the local rows of a
/// row-sharded matrix (H and out must have the same row distribution and a single process
/// column, e.g. a P x 1 grid); with `relu`, ReLU is applied. One dgemm. Local.
void multiply_rows_local(const la::DistMatrix<double>& h, const double* m, int rows, int cols,
                         bool relu, la::DistMatrix<double>& out);

/// NC metrics of the three stages of the layer with weight w (row-major rows x cols) applied to
/// the features h (n x cols, rows distributed over a P x 1 grid, all columns local).
/// `mapped` may be given (the next layer's input, already computed) to avoid recomputing it.
/// Collective over the grid of h.
LayerCollapse layer_collapse(const la::DistMatrix<double>& h, const std::vector<double>& w,
                             int rows, int cols, const std::vector<int>& labels, int classes,
                             const la::DistMatrix<double>* mapped = nullptr);

/// Pearson correlation of two equally long vectors (NaN if either is constant). Local (pure).
double pearson(const std::vector<double>& a, const std::vector<double>& b);
/// Cosine similarity (uncentred) of two equally long vectors (NaN for a zero vector). Local.
double cosine(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace deeprfm::mlp
