#include <deeprfm/mlp/optimizer.hpp>

#include <cmath>

#include <deeprfm/base/error.hpp>

namespace deeprfm::mlp {

Optimizer::Optimizer(const MlpConfig& config, std::size_t count)
    : config_(config),
      m_(count, 0.0),
      v_(config.optimizer == OptimizerKind::adam ? count : 0, 0.0) {}

void Optimizer::set_state(const std::vector<double>& first, const std::vector<double>& second,
                          long steps) {
  DEEPRFM_CHECK(first.size() == m_.size() && second.size() == v_.size() && steps >= 0, input,
                "optimizer state of " << first.size() << " + " << second.size()
                                      << " values does not fit " << to_string(config_.optimizer)
                                      << " with " << m_.size() << " parameters");
  m_ = first;
  v_ = second;
  steps_ = steps;
}

void Optimizer::step(std::vector<double>& params, const double* grad) {
  DEEPRFM_ASSERT(params.size() == m_.size());
  ++steps_;
  const std::size_t count = params.size();
  const double lr = config_.lr;
  if (config_.optimizer == OptimizerKind::adam) {
    const double b1 = config_.beta1, b2 = config_.beta2, eps = config_.adam_eps;
    const double c1 = 1.0 - std::pow(b1, static_cast<double>(steps_));
    const double c2 = 1.0 - std::pow(b2, static_cast<double>(steps_));
    const double step = lr / c1, root_c2 = std::sqrt(c2);
    for (std::size_t i = 0; i < count; ++i) {
      const double g = grad[i];
      m_[i] = b1 * m_[i] + (1.0 - b1) * g;
      v_[i] = b2 * v_[i] + (1.0 - b2) * g * g;
      // PyTorch: p -= (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps).
      params[i] -= step * m_[i] / (std::sqrt(v_[i]) / root_c2 + eps);
    }
  } else {
    const double mu = config_.momentum;
    for (std::size_t i = 0; i < count; ++i) {
      m_[i] = steps_ == 1 ? grad[i] : mu * m_[i] + grad[i];
      params[i] -= lr * m_[i];
    }
  }
}

}  // namespace deeprfm::mlp
