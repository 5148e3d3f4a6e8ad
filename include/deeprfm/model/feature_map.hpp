#pragma once
/// The random feature map of a Deep RFM layer (docs/numerics.md §9): X <- ReLU(X S W^T).
#include <cstdint>
#include <string>
#include <vector>

#include <deeprfm/la/dist_matrix.hpp>

namespace deeprfm::model {

enum class FeatureInit {
  gaussian,  ///< i.i.d. N(0, 1), as in the paper
  uniform,   ///< i.i.d. U[-1/sqrt(d), 1/sqrt(d)], the authors' nn.Linear initialisation
};
FeatureInit parse_feature_init(const std::string& text);
std::string to_string(FeatureInit init);

/// W_l (width x d, row-major), a function of (seed, layer) only: every rank draws the same
/// matrix, whatever the rank count. Local.
std::vector<double> random_feature_matrix(int width, int d, std::uint64_t seed, int layer,
                                          FeatureInit init);

/// A replicated row-major rows x cols matrix as a block-cyclic DistMatrix on `grid`. Local.
la::DistMatrix<double> distribute_replicated(const la::ProcessGrid& grid, int rows, int cols,
                                             const double* row_major, int block);

/// out = x * m for a replicated row-major d x k matrix m (out is n x k). Collective.
void multiply_replicated(const la::DistMatrix<double>& x, const std::vector<double>& m, int k,
                         la::DistMatrix<double>& out);

/// out = ReLU(x W^T) with W width x d replicated row-major (out is n x width). Collective.
void apply_random_features(const la::DistMatrix<double>& x, const std::vector<double>& w, int width,
                           la::DistMatrix<double>& out);

}  // namespace deeprfm::model
