#include <deeprfm/mlp/config.hpp>

#include <cmath>

#include <deeprfm/base/error.hpp>

namespace deeprfm::mlp {

OptimizerKind parse_optimizer(const std::string& text) {
  if (text == "adam") return OptimizerKind::adam;
  if (text == "sgd") return OptimizerKind::sgd;
  DEEPRFM_THROW_ABOUT(input, "optimizer", "optimizer '" << text << "' is not one of: adam, sgd");
}

std::string to_string(OptimizerKind kind) { return kind == OptimizerKind::adam ? "adam" : "sgd"; }

void MlpConfig::validate() const {
  DEEPRFM_CHECK_ABOUT(hidden_layers >= 1, input, "hidden-layers",
                      "the number of hidden layers must be >= 1, got " << hidden_layers);
  DEEPRFM_CHECK_ABOUT(hidden_width >= 1, input, "hidden-width",
                      "the hidden width must be >= 1, got " << hidden_width);
  DEEPRFM_CHECK_ABOUT(epochs >= 1, input, "epochs",
                      "the number of epochs must be >= 1, got " << epochs);
  DEEPRFM_CHECK_ABOUT(batch_size >= 1, input, "batch-size",
                      "the batch size must be >= 1, got " << batch_size);
  DEEPRFM_CHECK_ABOUT(std::isfinite(lr) && lr > 0, input, "lr",
                      "the learning rate must be a positive number, got " << lr);
  DEEPRFM_CHECK_ABOUT(std::isfinite(init_gain) && init_gain > 0, input, "init-gain",
                      "the initialisation gain must be a positive number, got " << init_gain);
  DEEPRFM_CHECK_ABOUT(beta1 >= 0 && beta1 < 1, input, "beta1",
                      "Adam's beta1 must be in [0, 1), got " << beta1);
  DEEPRFM_CHECK_ABOUT(beta2 >= 0 && beta2 < 1, input, "beta2",
                      "Adam's beta2 must be in [0, 1), got " << beta2);
  DEEPRFM_CHECK_ABOUT(std::isfinite(adam_eps) && adam_eps > 0, input, "adam-eps",
                      "Adam's epsilon must be a positive number, got " << adam_eps);
  DEEPRFM_CHECK_ABOUT(momentum >= 0 && momentum < 1, input, "momentum",
                      "the SGD momentum must be in [0, 1), got " << momentum);
  DEEPRFM_CHECK_ABOUT(measure_every >= 0, input, "measure-every",
                      "the epochs between measurements must be >= 0 (0 = first and last epoch "
                      "only), got "
                          << measure_every);
  DEEPRFM_CHECK_ABOUT(eval_every >= 0, input, "eval-every",
                      "the epochs between evaluations must be >= 0, got " << eval_every);
  DEEPRFM_CHECK_ABOUT(agop_chunk_rows >= 1, input, "agop-chunk",
                      "the rows per AGOP chunk must be >= 1, got " << agop_chunk_rows);
}

}  // namespace deeprfm::mlp
