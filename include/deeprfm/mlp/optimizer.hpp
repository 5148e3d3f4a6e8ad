#pragma once
/// Optimisers acting on the network's packed parameter vector. Deterministic elementwise
/// updates: every rank applies the same update to the same (replicated) weights. Local.
#include <cstddef>
#include <vector>

#include <deeprfm/mlp/config.hpp>

namespace deeprfm::mlp {

/// Adam (no weight decay, bias-corrected, eps added to sqrt(v_hat)) or SGD with momentum
/// (buf = momentum buf + g, buf = g on the first step; w -= lr buf), as PyTorch does them.
class Optimizer {
 public:
  /// State for `count` parameters. Local.
  Optimizer(const MlpConfig& config, std::size_t count);
  /// One update of params with the gradient grad (both `count` long). Local.
  void step(std::vector<double>& params, const double* grad);
  long steps() const { return steps_; }
  /// The state a checkpoint keeps: first moment (Adam) or momentum buffer (SGD), second
  /// moment (Adam; empty for SGD) and the number of steps taken. Local.
  const std::vector<double>& first_moment() const { return m_; }
  const std::vector<double>& second_moment() const { return v_; }
  /// Restore a saved state (sizes must match this optimiser's; Error(input) otherwise). Local.
  void set_state(const std::vector<double>& first, const std::vector<double>& second, long steps);

 private:
  MlpConfig config_;
  std::vector<double> m_, v_;
  long steps_ = 0;
};

}  // namespace deeprfm::mlp
