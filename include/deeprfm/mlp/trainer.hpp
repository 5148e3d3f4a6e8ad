#pragma once
/// Data-parallel training of the MLP and its periodic measurements (docs/mlp.md). Each rank holds
/// a contiguous shard of the training rows with every feature (mlp/row_shards.hpp) and the
/// whole (replicated) network. A step's global minibatch is fixed by (seed, epoch) alone;
/// every rank computes the gradient of the minibatch rows it holds with BLAS-3, one
/// MPI_Allreduce of the packed gradients (plus the loss) sums them, and every rank applies the
/// same optimiser update: the weights are the same on every rank, and the same to round-off
/// at any rank count.
#include <memory>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/la/process_grid.hpp>
#include <deeprfm/mlp/config.hpp>
#include <deeprfm/mlp/measurements.hpp>
#include <deeprfm/mlp/network.hpp>
#include <deeprfm/mlp/optimizer.hpp>

namespace deeprfm::mlp {

/// Loss (MSE, mean over samples and classes, on +-1 targets) and accuracy (argmax) of the
/// network on the whole training and test sets. Test values are NaN without a test set.
struct Evaluation {
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
};

/// One epoch of training.
struct EpochRecord {
  int epoch = 0;            ///< 1-based
  double running_loss = 0;  ///< mean of the epoch's minibatch losses, weighted by size
  bool evaluated = false;
  Evaluation eval;     ///< after the epoch (when evaluated)
  double seconds = 0;  ///< training time of the epoch (without evaluation)
};

/// Measurements of one hidden layer l (input H_l, weight W_l).
struct LayerMeasurement {
  int layer = 0;  ///< 0-based
  int dim_in = 0, dim_out = 0;
  LayerCollapse collapse;    ///< NC of H_l, Sigma V^T H_l, ReLU(W_l H_l) = H_{l+1}
  double nfa_corr = 0;       ///< Pearson(vec(W^T W), vec(AGOP_l))
  double nfa_corr_sqrt = 0;  ///< Pearson(vec(W^T W), vec(AGOP_l^{1/2}))
  double nfa_cos = 0;        ///< cosine(vec(W^T W), vec(AGOP_l))
  double nfa_cos_sqrt = 0;   ///< cosine(vec(W^T W), vec(AGOP_l^{1/2}))
  std::vector<double> agop;  ///< dim_in x dim_in, row-major, (1/n) sum_i J_i^T J_i
};

/// Everything measured at one epoch (0 = at initialisation).
struct Measurement {
  int epoch = 0;
  Evaluation eval;
  std::vector<LayerMeasurement> layers;
  double seconds = 0;  ///< time the measurement took
};

class Trainer {
 public:
  /// Copy the data into the row-sharded layout on a P x 1 grid over data.train.x's grid's
  /// ranks and initialise the network and optimiser. Collective over that grid.
  Trainer(const MlpConfig& config, const data::TrainTest& data);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Train one epoch (`epoch` 1-based: its permutation is epoch_permutation(n, seed, epoch)).
  /// Evaluates afterwards when `evaluate` is true. A non-finite training loss is an agreed
  /// Error(numerical) (the same on every rank; one allreduce). Collective.
  EpochRecord train_epoch(int epoch, bool evaluate);
  /// Loss and accuracy on the training and test sets. Collective.
  Evaluation evaluate() const;
  /// Every measurement of the current network, labelled `epoch`. Collective; every rank
  /// returns the same numbers.
  Measurement measure(int epoch) const;

  const Network& network() const { return net_; }
  /// Replace the weights (e.g. for tests); must have the same shape. Local.
  void set_parameters(const std::vector<double>& params);
  const Optimizer& optimizer() const { return optimizer_; }
  /// Continue from a checkpoint: weights and optimiser state (moments, step count). Sizes
  /// must match (Error(input)). Local (every rank restores the same state).
  void restore(const std::vector<double>& params, const std::vector<double>& first_moment,
               const std::vector<double>& second_moment, long steps);
  const MlpConfig& config() const { return config_; }
  int train_rows() const { return n_; }
  /// The P x 1 grid of the row-sharded data (its full() communicator spans every rank).
  const la::ProcessGrid& column_grid() const { return *column_grid_; }

 private:
  /// Sum of squared errors and number of correct argmax predictions of the network on the
  /// local rows of a row-sharded set (forward passes in chunks of agop_chunk_rows). Local.
  void score_local(const la::DistMatrix<double>& x, const std::vector<int>& labels, double& sse,
                   double& correct) const;
  /// Same for precomputed outputs (local rows x C, leading dimension ld). Local.
  void score_outputs(const double* output, int rows, int ld, int first_row,
                     const std::vector<int>& labels, double& sse, double& correct) const;

  MlpConfig config_;
  int n_ = 0, n_test_ = 0, classes_ = 0;
  std::unique_ptr<la::ProcessGrid> column_grid_;
  la::DistMatrix<double> x_, x_test_;
  std::vector<int> labels_, test_labels_;
  Network net_;
  Optimizer optimizer_;
  mutable Workspace ws_;
  std::vector<double> grad_;
  std::vector<double> batch_x_;
  std::vector<int> batch_labels_;
};

}  // namespace deeprfm::mlp
