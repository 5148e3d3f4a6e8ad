#pragma once
/// One Deep RFM layer (Algorithm 1 of the paper, docs/numerics.md §2) on distributed data, with the
/// neural-collapse metrics at its three stages (docs/numerics.md §10).
#include <limits>
#include <string>
#include <vector>

#include <deeprfm/mpi/timer.hpp>
#include <deeprfm/model/kernel_matrix.hpp>
#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/model/neural_collapse.hpp>
#include <deeprfm/rfm/config.hpp>
#include <deeprfm/rfm/saved_model.hpp>

namespace deeprfm::rfm {

/// Everything one layer measured; identical on every rank (timings: the maximum over ranks).
struct LayerResult {
  int layer = 0;                             ///< 0-based
  int dim_in = 0;                            ///< d of this layer's input
  model::CollapseMetrics input;              ///< X_l (after row normalisation)
  model::CollapseMetrics projected;          ///< X_l S
  model::CollapseMetrics mapped;             ///< X_{l+1} = ReLU(X_l S W_l^T)
  double residual = 0;                       ///< ||(K + mu I) A - Y||_F / ||Y||_F
  double rcond = 0;                          ///< reciprocal condition estimate of K + mu I
  double ridge = 0;                          ///< the ridge mu the solve used
  std::vector<double> ridges_tried;          ///< with --ridge-escalation: every ridge that failed
  std::vector<double> refinement_residuals;  ///< mixed precision: residual after each step
  double wall_seconds = 0;    ///< wall time of run_layer, largest over ranks (untimed waits too)
  double peak_rss_bytes = 0;  ///< largest peak resident set size over ranks so far
  double train_accuracy = 0;
  double test_accuracy = std::numeric_limits<double>::quiet_NaN();  ///< NaN without test set
  /// Regression (NaN otherwise): mean squared error and R² of the training and test
  /// predictions (model::regression_metrics); train/test accuracy and the collapse metrics are
  /// then NaN.
  double train_mse = std::numeric_limits<double>::quiet_NaN();
  double train_r2 = std::numeric_limits<double>::quiet_NaN();
  double test_mse = std::numeric_limits<double>::quiet_NaN();
  double test_r2 = std::numeric_limits<double>::quiet_NaN();
  model::KernelStats kernel_stats;
  std::vector<double> agop;  ///< d x d row-major; with T iterations M_T, the last update
  /// With --iterations T > 1, per iteration t = 1..T: the AGOP M_t in the original coordinates
  /// (T x d x d), the solve's residual and the training accuracy (empty for T = 1).
  std::vector<double> iteration_agops;
  std::vector<double> iteration_residuals;
  std::vector<double> iteration_train_accuracy;
  std::vector<double> agop_eigenvalues;  ///< ascending
  int clipped_eigenvalues = 0;
  PhaseTimers timers;  ///< per phase: max seconds over ranks, total flops
};

/// Per-rank memory (bytes) the layers need at their peak on a grid_rows x grid_cols grid, the
/// estimate printed before the run (with T > 1 iterations, X M^{1/2} of train and test on top;
/// the process's own baseline — libraries, MPI buffers — is
/// not included: callers add what they measured). Local (pure).
double estimate_memory_per_rank(double n, double d, double width, double classes, double n_test,
                                double grid_rows, double grid_cols, bool mixed_precision = false,
                                int iterations = 1);

/// Floating-point operations of one layer with input dimension d (the timed phases: kernel
/// assembly twice, Cholesky n^3/3, solve and residual, AGOP, test kernel and prediction, the
/// d x d square root, the feature map of train and test features; with T iterations the fit,
/// the AGOP and the mapping to X M^{1/2} T times). For the time-limit
/// prediction of a layer never measured: an estimate. Local (pure).
double estimate_layer_flops(double n, double d, double width, double classes, double n_test,
                            int iterations = 1);

/// Test rows whose kernel rows are formed at once (bounds the test kernel to ~n^2/4). Local.
int test_chunk_rows(int n, int n_test, int block);

/// The real-valued targets of a regression run (Dataset::targets of both sets, row-major
/// n x k and n_test x k, replicated).
struct RegressionTargets {
  const std::vector<double>* train = nullptr;
  const std::vector<double>* test = nullptr;
};

/// Deep RFM over a process grid.
class DeepRfm {
 public:
  DeepRfm(const ModelConfig& config, const la::ProcessGrid& grid);

  /// Run layer `layer` (0-based). `x` holds X_l on entry and X_{l+1} on exit (it changes
  /// width: d -> config.width); `x_test` likewise for the test set (may have 0 rows). With
  /// `keep` not null, the layer's model (saved_model.hpp: the normalised X_l, A_l, S_l, W_l and
  /// the test predictions) is moved into *keep instead of being freed (n d + n C more memory
  /// until the caller lets it go). With `regression`, the targets are real (`classes` is then
  /// their column count k) and the layer reports MSE and R² instead of accuracy and collapse
  /// metrics. Collective over the grid; every failure is agreed and thrown on every rank.
  LayerResult run_layer(int layer, la::DistMatrix<double>& x, const std::vector<int>& labels,
                        int classes, la::DistMatrix<double>& x_test,
                        const std::vector<int>& test_labels, LayerModel* keep = nullptr,
                        const RegressionTargets* regression = nullptr);

  const ModelConfig& config() const { return config_; }

 private:
  ModelConfig config_;
  const la::ProcessGrid& grid_;
};

}  // namespace deeprfm::rfm
