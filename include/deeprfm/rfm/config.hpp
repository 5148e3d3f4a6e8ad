#pragma once
/// The Deep RFM model's parameters (the layer: docs/numerics.md §2; the defaults, from the paper's
/// experiments, are listed in docs/cli.md, "Options").
#include <cstdint>

#include <deeprfm/model/kernel.hpp>
#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/model/feature_map.hpp>

namespace deeprfm::rfm {

struct ModelConfig {
  model::Kernel kernel;  ///< Laplace, bandwidth 2.0
  double ridge = 0.0;    ///< mu; 0 = ridgeless (the paper)
  int width = 512;       ///< D, random-feature width
  int layers = 8;        ///< L
  model::FeatureInit feature_init = model::FeatureInit::gaussian;
  std::uint64_t seed = 1;             ///< seeds W_l (and synthetic data)
  int block = la::kDefaultBlockSize;  ///< block-cyclic block size
  double residual_tolerance = 1e-6;   ///< a solve with a larger relative residual fails
  bool ridge_escalation = false;      ///< on a failed Cholesky, raise the ridge (logged)
  bool mixed_precision = false;       ///< K in single precision + refinement in double
  int max_ridge_escalations = 12;     ///< raises by 10x before giving up
  int iterations = 1;                 ///< T RFM iterations per layer (1 = Algorithm 1)

  /// Throws Error(input) for a non-positive bandwidth, width, layer count or block size, or a
  /// negative / non-finite ridge. Local (every rank checks the same values).
  void validate() const;
};

}  // namespace deeprfm::rfm
