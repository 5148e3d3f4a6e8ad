#pragma once
/// The MLP experiment's parameters (docs/mlp.md): architecture, optimiser, schedule of
/// measurements. The defaults follow the paper's Appendix C where its numbers survived.
#include <cstdint>
#include <string>

namespace deeprfm::mlp {

enum class OptimizerKind {
  adam,  ///< Adam without weight decay (PyTorch semantics, bias-corrected moments)
  sgd,   ///< SGD with (heavy-ball) momentum, PyTorch semantics
};
/// "adam" | "sgd"; anything else is Error(input). Local.
OptimizerKind parse_optimizer(const std::string& text);
std::string to_string(OptimizerKind kind);

struct MlpConfig {
  int hidden_layers = 5;   ///< L hidden ReLU layers
  int hidden_width = 512;  ///< h
  double init_gain = 1.0;  ///< Xavier-uniform gain of the hidden weights
  std::uint64_t seed = 1;  ///< weights and minibatch order depend only on it
  int epochs = 250;
  int batch_size = 128;  ///< global minibatch size (summed over ranks)
  OptimizerKind optimizer = OptimizerKind::adam;
  double lr = 1e-4;
  double beta1 = 0.9;          ///< Adam
  double beta2 = 0.999;        ///< Adam
  double adam_eps = 1e-8;      ///< Adam
  double momentum = 0.9;       ///< SGD
  int measure_every = 10;      ///< epochs between measurements (0 = first and last only)
  int eval_every = 1;          ///< epochs between full train/test evaluations (0 = never
                               ///< outside measurements)
  int agop_chunk_rows = 1024;  ///< rows per batched backward pass of the AGOP

  /// Throws Error(input) naming the option for a non-positive layer count, width, epoch
  /// count, batch size, learning rate or gain, betas outside [0, 1), a non-positive epsilon,
  /// momentum outside [0, 1) or a negative measurement interval. Local (every rank checks
  /// the same values, so every rank throws the same error).
  void validate() const;
};

}  // namespace deeprfm::mlp
