#include <deeprfm/mlp/config.hpp>

#include <cmath>

#include <deeprfm/base/error.hpp>

namespace deeprfm::mlp {

OptimizerKind parse_optimizer(const std::string& text) {
  if (text == "adam") return OptimizerKind::adam;
  if (text == "sgd") return OptimizerKind::sgd;
  DEEPRFM_THROW(input, "--optimizer '" << text << "' is not one of: adam, sgd");
}

std::string to_string(OptimizerKind kind) { return kind == OptimizerKind::adam ? "adam" : "sgd"; }

void MlpConfig::validate() const {
  DEEPRFM_CHECK(hidden_layers >= 1, input, "--hidden-layers must be >= 1, got " << hidden_layers);
  DEEPRFM_CHECK(hidden_width >= 1, input, "--hidden-width must be >= 1, got " << hidden_width);
  DEEPRFM_CHECK(epochs >= 1, input, "--epochs must be >= 1, got " << epochs);
  DEEPRFM_CHECK(batch_size >= 1, input, "--batch-size must be >= 1, got " << batch_size);
  DEEPRFM_CHECK(std::isfinite(lr) && lr > 0, input, "--lr must be a positive number, got " << lr);
  DEEPRFM_CHECK(std::isfinite(init_gain) && init_gain > 0, input,
                "--init-gain must be a positive number, got " << init_gain);
  DEEPRFM_CHECK(beta1 >= 0 && beta1 < 1, input, "--beta1 must be in [0, 1), got " << beta1);
  DEEPRFM_CHECK(beta2 >= 0 && beta2 < 1, input, "--beta2 must be in [0, 1), got " << beta2);
  DEEPRFM_CHECK(std::isfinite(adam_eps) && adam_eps > 0, input,
                "--adam-eps must be a positive number, got " << adam_eps);
  DEEPRFM_CHECK(momentum >= 0 && momentum < 1, input,
                "--momentum must be in [0, 1), got " << momentum);
  DEEPRFM_CHECK(
      measure_every >= 0, input,
      "--measure-every must be >= 0 (0 = first and last epoch only), got " << measure_every);
  DEEPRFM_CHECK(eval_every >= 0, input, "--eval-every must be >= 0, got " << eval_every);
  DEEPRFM_CHECK(agop_chunk_rows >= 1, input, "--agop-chunk must be >= 1, got " << agop_chunk_rows);
}

}  // namespace deeprfm::mlp
