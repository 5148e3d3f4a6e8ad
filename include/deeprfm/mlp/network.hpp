#pragma once
/// A bias-free ReLU MLP with replicated weights, and its batched (BLAS-3) forward pass,
/// MSE gradient and per-layer AGOP. Everything here is local: a rank works on the rows it
/// holds; the distributed driver (mlp/trainer.hpp) combines the ranks' sums.
///
/// Layout conventions: a batch of activations is column-major `rows x width` with a leading
/// dimension (rows are samples, as everywhere in deeprfm); weight matrix l is row-major
/// `out_dim(l) x in_dim(l)` (so its bytes are W^T column-major, and H W^T is one dgemm).
/// Matrices 0..L-1 are the hidden layers, matrix L is the linear readout.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace deeprfm::mlp {

/// Weights of f(x) = W_L ReLU(W_{L-1} ... ReLU(W_0 x)), all in one contiguous vector so that
/// the optimiser and the single gradient MPI_Allreduce see one buffer. Local.
class Network {
 public:
  Network() = default;
  /// Zero weights of the given shape. Local.
  Network(int input_dim, int width, int hidden_layers, int classes);

  int input_dim() const { return input_dim_; }
  int width() const { return width_; }
  int hidden_layers() const { return hidden_layers_; }
  int classes() const { return classes_; }
  /// Number of weight matrices (hidden layers + readout).
  int matrices() const { return hidden_layers_ + 1; }
  int in_dim(int l) const { return l == 0 ? input_dim_ : width_; }
  int out_dim(int l) const { return l == hidden_layers_ ? classes_ : width_; }
  /// Offset of matrix l in parameters() (and in a packed gradient).
  std::size_t offset(int l) const { return offsets_[static_cast<std::size_t>(l)]; }
  std::size_t parameter_count() const { return offsets_.back(); }

  const double* weight(int l) const { return parameters_.data() + offset(l); }
  double* weight(int l) { return parameters_.data() + offset(l); }
  std::vector<double>& parameters() { return parameters_; }
  const std::vector<double>& parameters() const { return parameters_; }

 private:
  int input_dim_ = 0, width_ = 0, hidden_layers_ = 0, classes_ = 0;
  std::vector<std::size_t> offsets_{0};
  std::vector<double> parameters_;
};

/// Hidden weights Xavier-uniform times `gain` (U[-a, a], a = gain sqrt(6 / (in + out))),
/// readout U[-1/sqrt(h), 1/sqrt(h)] (PyTorch's nn.Linear default). A function of (seed, shape)
/// only, identical on every rank and platform (own integer-to-double mapping). Local.
Network make_network(int input_dim, int width, int hidden_layers, int classes, double gain,
                     std::uint64_t seed);

/// A 64-bit generator seed derived from (seed, tag, index) by splitmix64 mixing; make_network
/// and epoch_permutation seed std::mt19937_64 with it. Local (pure).
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t tag, std::uint64_t index);

/// The order in which epoch `epoch` visits the n training rows: a Fisher-Yates permutation
/// that depends only on (seed, epoch). Local (pure).
std::vector<int> epoch_permutation(int n, std::uint64_t seed, int epoch);

/// Activations of one batch: hidden[l] = H_{l+1} = ReLU(H_l W_l^T) (rows x width, ld rows),
/// output = H_L W_L^T (rows x classes, ld rows).
struct Activations {
  int rows = 0;
  std::vector<std::vector<double>> hidden;
  std::vector<double> output;
};

/// Forward pass of `rows` samples x (column-major, rows x input_dim, leading dimension ldx):
/// one dgemm per layer. Local.
void forward(const Network& net, const double* x, int rows, int ldx, Activations& act);

/// Buffers of the backward passes, reused between calls. Local.
struct Workspace {
  Activations act;
  std::vector<double> grad_a, grad_b;  ///< rows x width ping-pong buffers
  std::vector<double> grad_out;        ///< rows x classes
  std::vector<double> input_grad;      ///< rows x input_dim (AGOP of layer 0)
};

/// Adds to `grad` (packed like net.parameters()) the gradient of
/// (1 / (batch_rows * C)) sum_{i in these rows} ||f(x_i) - y_i||^2, y_i the +-1 targets of
/// labels[i], and returns sum_i ||f(x_i) - y_i||^2 over these rows. `batch_rows` is the size
/// of the whole (global) minibatch these rows belong to, so that the ranks' contributions sum
/// to the minibatch's MSE gradient. rows may be 0. Batched: 2 dgemms per layer. Local.
double accumulate_mse_gradient(const Network& net, const double* x, int rows, int ldx,
                               const int* labels, int batch_rows, double* grad, Workspace& ws);

/// Adds sum_i J_{i,l}^T J_{i,l} to agop[l] (in_dim(l) x in_dim(l), full symmetric, row-major)
/// for every hidden layer l, with J_{i,l} = d f(x_i) / d H_l (C x in_dim(l)) over these rows.
/// One forward pass plus C batched backward passes (one per output unit; each gives the
/// Jacobian rows of every layer at once) and one dsyrk per layer and class. Local.
void accumulate_agop(const Network& net, const double* x, int rows, int ldx,
                     std::vector<std::vector<double>>& agop, Workspace& ws);

/// W_l^T W_l (in_dim x in_dim, row-major, full symmetric) of matrix l. Local.
std::vector<double> weight_gram(const Network& net, int l);

}  // namespace deeprfm::mlp
