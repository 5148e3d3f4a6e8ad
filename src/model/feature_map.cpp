#include <deeprfm/model/feature_map.hpp>

#include <cmath>

#include <deeprfm/base/error.hpp>
#include <deeprfm/base/random.hpp>
#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::model {

FeatureInit parse_feature_init(const std::string& text) {
  if (text == "gaussian") return FeatureInit::gaussian;
  if (text == "uniform") return FeatureInit::uniform;
  DEEPRFM_THROW_ABOUT(input, "feature-init",
                      "feature initialisation '" << text << "' is not one of: gaussian, uniform");
}

std::string to_string(FeatureInit init) {
  return init == FeatureInit::gaussian ? "gaussian" : "uniform";
}

std::vector<double> random_feature_matrix(int width, int d, std::uint64_t seed, int layer,
                                          FeatureInit init) {
  // core/random gives the same bits on every platform and rank.
  const std::uint64_t key = splitmix64(
      splitmix64(seed) ^ (0x5851f42d4c957f2dULL * static_cast<std::uint64_t>(layer + 1)));
  std::vector<double> w(static_cast<std::size_t>(width) * d);
  if (init == FeatureInit::gaussian) {
    standard_normals(key, w.data(), w.size());
  } else {
    const double bound = 1.0 / std::sqrt(static_cast<double>(d));
    uniform_values(key, -bound, bound, w.data(), w.size());
  }
  return w;
}

la::DistMatrix<double> distribute_replicated(const la::ProcessGrid& grid, int rows, int cols,
                                             const double* row_major, int block) {
  la::DistMatrix<double> m(grid, rows, cols, block);
  la::assign_from_replicated(m, row_major);
  return m;
}

void multiply_replicated(const la::DistMatrix<double>& x, const std::vector<double>& m, int k,
                         la::DistMatrix<double>& out) {
  DEEPRFM_ASSERT(m.size() == static_cast<std::size_t>(x.cols()) * k);
  DEEPRFM_ASSERT(out.rows() == x.rows() && out.cols() == k);
  const auto md = distribute_replicated(x.grid(), x.cols(), k, m.data(), x.dist().cols().block());
  la::scalapack::gemm('N', 'N', 1.0, x, md, 0.0, out);
}

void apply_random_features(const la::DistMatrix<double>& x, const std::vector<double>& w, int width,
                           la::DistMatrix<double>& out) {
  const int d = x.cols();
  DEEPRFM_ASSERT(w.size() == static_cast<std::size_t>(width) * d);
  // W^T as a d x width distributed matrix, then one PBLAS product.
  std::vector<double> wt(w.size());
  for (int r = 0; r < width; ++r)
    for (int c = 0; c < d; ++c)
      wt[static_cast<std::size_t>(c) * width + r] = w[static_cast<std::size_t>(r) * d + c];
  multiply_replicated(x, wt, width, out);
  for (int lj = 0; lj < out.local_cols(); ++lj)
    for (int li = 0; li < out.local_rows(); ++li) {
      double& v = out.local(li, lj);
      v = v > 0.0 ? v : 0.0;
    }
}

}  // namespace deeprfm::model
