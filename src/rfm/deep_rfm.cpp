#include <deeprfm/rfm/deep_rfm.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <deeprfm/base/error.hpp>
#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/model/mixed_precision.hpp>
#include <deeprfm/model/solver.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/model/agop.hpp>
#include <deeprfm/la/matrix_sqrt.hpp>

namespace deeprfm::rfm {

void ModelConfig::validate() const {
  DEEPRFM_CHECK_ABOUT(std::isfinite(kernel.bandwidth) && kernel.bandwidth > 0, input, "bandwidth",
                      "the kernel bandwidth must be positive, got " << kernel.bandwidth);
  DEEPRFM_CHECK_ABOUT(std::isfinite(ridge) && ridge >= 0, input, "ridge",
                      "the ridge must be a finite number >= 0, got " << ridge);
  DEEPRFM_CHECK_ABOUT(width > 0, input, "width",
                      "the random-feature width must be positive, got " << width);
  DEEPRFM_CHECK_ABOUT(layers > 0, input, "layers",
                      "the number of layers must be positive, got " << layers);
  DEEPRFM_CHECK_ABOUT(
      iterations >= 1 && iterations <= 100, input, "iterations",
      "the number of RFM iterations per layer must be in [1, 100], got " << iterations);
  DEEPRFM_CHECK_ABOUT(block > 0, input, "block-size",
                      "the block size must be positive, got " << block);
  DEEPRFM_CHECK_ABOUT(residual_tolerance > 0, input, "residual-tolerance",
                      "the residual tolerance must be positive, got " << residual_tolerance);
}

double estimate_memory_per_rank(double n, double d_input, double width, double classes,
                                double n_test, double grid_rows, double grid_cols,
                                bool mixed_precision, int iterations) {
  // Layer 1 runs on d_input features, later layers on `width`: the peak is at the wider one.
  const double d = std::max(d_input, width);
  const double ranks = grid_rows * grid_cols;
  // Distributed matrices (divided evenly over the ranks).
  // Training peak, during the AGOP: K/W (n^2), X (n d), test features (n_t d), n x C matrices.
  // Mixed precision: K in single precision (n^2 / 2 in doubles) plus one double panel of
  // about n/16 rows (model::panel_rows) while it is filled or a residual is computed.
  const double kernel_storage = mixed_precision ? 0.5 * n * n + n * std::max(n / 16.0, 1.0) : n * n;
  const double mapped = iterations > 1 ? (n + n_test) * d : 0.0;  // X M^{1/2}, X_test M^{1/2}
  const double train_peak = kernel_storage + n * d + n_test * d + 4.0 * n * classes + mapped;
  // Feature-map peak: X, X S, X_{l+1} (n (2d + D)) and the same for the test set.
  const double map_peak = (n + n_test) * (2.0 * d + width);
  // Test prediction peak: a chunk of the test kernel + features.
  const double chunk = test_chunk_rows(static_cast<int>(n), static_cast<int>(n_test), 1);
  const double test_peak = chunk * n + (n + n_test) * d + n_test * classes;
  // Per-rank AGOP buffers (model/agop.cpp): X and diag(a_c) X at my columns of W (2 n d / Pc),
  // the partial product of my rows of W (n d / Pr), my share of J and of X (2 n d / P).
  const double agop_buffers = 2.0 * n * d / grid_cols + n * d / grid_rows + 3.0 * n * d / ranks;
  const double per_rank =
      std::max({(train_peak) / ranks + agop_buffers, map_peak / ranks, test_peak / ranks});
  // Replicated: the AGOP, its square root and eigenvectors, W_l and W_l^T (d x d, d x D),
  // plus n x C copies of A and W A and the labels.
  const double replicated = 4.0 * d * d + 2.0 * d * width + 3.0 * n * classes + 2.0 * n;
  return 8.0 * (per_rank + replicated);
}

double estimate_layer_flops(double n, double d, double width, double classes, double n_test,
                            int iterations) {
  const double kernel = 2.0 * 2.0 * n * n * d;  // assembled for the solve and again after it
  const double cholesky = n * n * n / 3.0;
  const double solve_and_residual = 2.0 * n * n * classes + 4.0 * n * n * classes;
  const double test = 2.0 * n_test * n * (d + classes);
  const double sqrt = 9.0 * d * d * d;
  const double feature_map = 2.0 * (n + n_test) * d * (d + width);
  const double fit = kernel + cholesky + solve_and_residual + model::agop_flops(n, d, classes);
  // Every iteration after the first: the square root, X M^{1/2} of train and test, R G R.
  const double remap = sqrt + 2.0 * (n + n_test) * d * d + 4.0 * d * d * d;
  return iterations * fit + (iterations - 1) * remap + test + sqrt + feature_map;
}

int test_chunk_rows(int n, int n_test, int block) {
  if (n_test <= 0) return 0;
  const int quarter = std::max(block, ((n / 4) / block) * block);
  return std::min(n_test, quarter);
}

DeepRfm::DeepRfm(const ModelConfig& config, const la::ProcessGrid& grid)
    : config_(config), grid_(grid) {
  config_.validate();
}

namespace {

void reduce_timers(const PhaseTimers& local, const mpi::Communicator& comm, PhaseTimers& out) {
  for (const auto& name : local.order()) {
    const auto& r = local.at(name);
    out.add(name, comm.max(r.seconds), r.flops, r.bytes, r.off_node_bytes);
  }
}

}  // namespace

LayerResult DeepRfm::run_layer(int layer, la::DistMatrix<double>& x, const std::vector<int>& labels,
                               int classes, la::DistMatrix<double>& x_test,
                               const std::vector<int>& test_labels, LayerModel* keep,
                               const RegressionTargets* regression) {
  const auto& comm = grid_.full();
  const int n = x.rows(), d = x.cols(), n_test = x_test.rows(), block = config_.block;
  const double dn = n, dd = d, dc = classes;
  const std::string where = "layer " + std::to_string(layer + 1);
  LayerResult result;
  result.layer = layer;
  result.dim_in = d;
  PhaseTimers timers;
  const auto& kernel = config_.kernel;
  const int me = comm.rank();
  const double wall_start = wall_seconds();
  // A safe point: stop requests (signals) are agreed here, and the test-only fault injection
  // acts here, inside an agreement, so that no rank is left waiting in a collective.
  auto checkpoint_phase = [&](const char* phase) {
    set_run_context(layer, phase);
    mpi::run_agreed(comm, [&] { inject_fault_point(layer, phase, me); });
    stop_point(comm);
  };

  // Regression (docs/numerics.md §1): real targets instead of ±1 one-hot ones, MSE and R²
  // instead of accuracy, and no neural-collapse metrics (there are no classes).
  if (regression) {
    DEEPRFM_ASSERT(regression->train != nullptr && regression->test != nullptr);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (model::CollapseMetrics* m : {&result.input, &result.projected, &result.mapped})
      m->nc1 = m->nc1_pinv = m->nc2_etf = m->nc2_orth = m->trace_within = m->trace_between = nan;
    result.train_accuracy = nan;
  }
  auto fill_targets = [&](la::DistMatrix<double>& y) {
    if (regression)
      model::fill_real_targets(y, *regression->train);
    else
      model::fill_targets(y, labels);
  };
  auto measure_training = [&](const la::DistMatrix<double>& pred) {
    if (regression) {
      const model::RegressionMetrics m = model::regression_metrics(pred, *regression->train);
      result.train_mse = m.mse;
      result.train_r2 = m.r2;
    } else {
      result.train_accuracy = model::accuracy(pred, labels);
    }
  };

  // 1. Row normalisation and the metrics of X_l.
  checkpoint_phase("normalize");
  {
    ScopedPhase phase(timers, "normalize", 3.0 * (dn + n_test) * dd, comm.get());
    model::normalize_rows(x, (where + ", training features").c_str());
    if (n_test > 0) model::normalize_rows(x_test, (where + ", test features").c_str());
  }
  {
    ScopedPhase phase(timers, "metrics", 0, comm.get());
    if (!regression) result.input = model::neural_collapse(x, labels, classes);
  }

  // 2-3. Kernel matrix and the ridge(less) solve; 4. the AGOP; T times with --iterations T
  // (docs/numerics.md §2): iteration t fits the kernel machine on X_l M^{1/2} (the Mahalanobis
  // distance ||x - z||_M), takes the AGOP G_u in those coordinates and sets
  // M <- M^{1/2} G_u M^{1/2}, the AGOP in the original coordinates. M = I at the start, so
  // T = 1 is Algorithm 1.
  la::DistMatrix<double> a(grid_, n, classes, block);
  auto check_residual = [&] {
    if (fault_requested("residual", layer, "residual", me)) result.residual *= 1e12;
    DEEPRFM_AGREE_ABOUT(comm, std::isfinite(result.residual), numerical, "ridge",
                        where << ": the solve produced non-finite coefficients (residual "
                              << result.residual << "); rerun with a ridge of 1e-3 or larger");
    DEEPRFM_AGREE_ABOUT(comm, result.residual <= config_.residual_tolerance, numerical,
                        "ridge,residual-tolerance",
                        where << ": the relative residual of the solve, " << result.residual
                              << ", is above the residual tolerance " << config_.residual_tolerance
                              << " (reciprocal condition " << result.rcond
                              << "); the system is too ill-conditioned: resume with a ridge of "
                                 "1e-3 or larger");
  };
  auto fit = [&](const la::DistMatrix<double>& xk) {
    checkpoint_phase("kernel");
    if (config_.mixed_precision) {
      // K stored and factored in single precision, A refined in double against K rebuilt in
      // double panel by panel; W in single precision for the AGOP products.
      la::DistMatrix<float> kf(grid_, n, n, block);
      {
        ScopedPhase phase(timers, "kernel", 2.0 * dn * dn * dd, comm.get());
        result.kernel_stats = model::assemble_kernel_single(kernel, xk, false, kf);
      }
      checkpoint_phase("factorization");
      fill_targets(a);
      la::DistMatrix<double> pred(grid_, n, classes, block);
      const model::RefinementReport report = model::mixed_precision_solve(
          kernel, xk, config_.ridge, kf, a, pred, where,
          std::min(model::kRefinementTarget, config_.residual_tolerance));
      timers.add("factorization", report.seconds_factorization, dn * dn * dn / 3.0,
                 report.bytes_factorization, report.off_node_bytes_factorization);
      timers.add("refinement", report.seconds_refinement,
                 report.kernel_rebuilds * (2.0 * dn * dn * dd + 2.0 * dn * dn * dc),
                 report.bytes_refinement, report.off_node_bytes_refinement);
      result.rcond = report.rcond;
      result.ridge = config_.ridge;
      result.residual = report.residuals.back();
      result.refinement_residuals = report.residuals;
      measure_training(pred);
      checkpoint_phase("residual");
      check_residual();
      checkpoint_phase("agop");
      {
        ScopedPhase phase(timers, "kernel", 2.0 * dn * dn * dd, comm.get());
        model::assemble_kernel_single(kernel, xk, true, kf);
      }
      {
        ScopedPhase phase(timers, "agop", model::agop_flops(dn, dd, dc), comm.get());
        result.agop = agop(kernel, kf, xk, a);
      }
    } else {
      la::DistMatrix<double> k(grid_, n, n, block);
      double ridge = config_.ridge;
      for (int attempt = 0;; ++attempt) {
        {
          ScopedPhase phase(timers, "kernel", 2.0 * dn * dn * dd, comm.get());
          result.kernel_stats = model::assemble_kernel(kernel, xk, 0, n, xk, true, k);
        }
        checkpoint_phase("factorization");
        fill_targets(a);
        try {
          // pdpotrf (+ the norm and condition estimate) and pdpotrs, timed separately.
          const model::SolveReport report =
              model::cholesky_solve(k, ridge, a, where, result.kernel_stats.one_norm);
          timers.add("factorization", report.seconds_factorization, dn * dn * dn / 3.0,
                     report.bytes_factorization, report.off_node_bytes_factorization);
          timers.add("solve", report.seconds_solve, 2.0 * dn * dn * dc, report.bytes_solve,
                     report.off_node_bytes_solve);
          result.rcond = report.rcond;
          break;
        } catch (const Error& e) {
          // Only an agreed numerical failure may be retried, and only when asked for explicitly.
          if (!config_.ridge_escalation || e.kind() != ErrorKind::numerical || !e.agreed() ||
              attempt >= config_.max_ridge_escalations)
            throw;
          result.ridges_tried.push_back(ridge);
          const double next = ridge > 0 ? 10.0 * ridge : 1e-10;
          if (me == 0)
            std::printf("%s: Cholesky failed with ridge %g; ridge escalation raises it to %g\n",
                        where.c_str(), ridge, next);
          ridge = next;
        }
      }
      result.ridge = ridge;
      // Rebuild K (it now holds the factor): no second n x n matrix is ever allocated.
      model::KernelStats rebuilt;
      checkpoint_phase("residual");
      {
        ScopedPhase phase(timers, "kernel", 2.0 * dn * dn * dd, comm.get());
        rebuilt = model::assemble_kernel(kernel, xk, 0, n, xk, true, k);
      }
      {
        // Residual and training predictions: two n x n x C products.
        ScopedPhase phase(timers, "residual", 4.0 * dn * dn * dc, comm.get());
        la::DistMatrix<double> y(grid_, n, classes, block);
        fill_targets(y);
        result.residual = model::relative_residual(k, ridge, a, y);
        la::DistMatrix<double> pred(grid_, n, classes, block);
        la::scalapack::gemm('N', 'N', 1.0, k, a, 0.0, pred);
        measure_training(pred);
      }
      check_residual();

      // 4. AGOP.
      checkpoint_phase("agop");
      {
        ScopedPhase phase(timers, "agop", model::agop_flops(dn, dd, dc), comm.get());
        model::kernel_to_gradient_weights(kernel, rebuilt, k);
        result.agop = agop(kernel, k, xk, a);
      }
      k.reset();  // free n x n before the test kernel
    }
  };
  const int iterations = config_.iterations;
  la::DistMatrix<double> mapped_x, mapped_x_test;  // X_l M^{1/2}, X_test M^{1/2} (t >= 2)
  std::vector<double> metric_sqrt;                 // M^{1/2} of the current kernel; empty = I
  for (int it = 0; it < iterations; ++it) {
    fit(metric_sqrt.empty() ? x : mapped_x);
    if (!metric_sqrt.empty()) {
      ScopedPhase phase(timers, "agop", 4.0 * dd * dd * dd, comm.get());
      result.agop = model::sandwich(metric_sqrt, result.agop, d);
    }
    if (iterations > 1) {
      result.iteration_agops.insert(result.iteration_agops.end(), result.agop.begin(),
                                    result.agop.end());
      result.iteration_residuals.push_back(result.residual);
      result.iteration_train_accuracy.push_back(result.train_accuracy);
    }
    if (it + 1 == iterations) break;
    checkpoint_phase("sqrt");
    {
      ScopedPhase phase(timers, "sqrt", 9.0 * dd * dd * dd, comm.get());
      metric_sqrt = la::symmetric_sqrt(result.agop, d, comm).sqrt;
    }
    {
      ScopedPhase phase(timers, "feature_map", 2.0 * (dn + n_test) * dd * dd, comm.get());
      mapped_x = la::DistMatrix<double>(grid_, n, d, block);
      model::multiply_replicated(x, metric_sqrt, d, mapped_x);
      if (n_test > 0) {
        mapped_x_test = la::DistMatrix<double>(grid_, n_test, d, block);
        model::multiply_replicated(x_test, metric_sqrt, d, mapped_x_test);
      }
    }
  }
  // The last iteration's kernel machine predicts: its centres and the test points, mapped.
  const la::DistMatrix<double>& centres = metric_sqrt.empty() ? x : mapped_x;
  const la::DistMatrix<double>& test_points = metric_sqrt.empty() ? x_test : mapped_x_test;

  // Test accuracy of this layer's predictor, in chunks of test rows.
  checkpoint_phase("test");
  la::DistMatrix<double> pred(grid_, n_test, classes, block);
  if (n_test > 0) {
    ScopedPhase phase(timers, "test", 2.0 * n_test * dn * (dd + dc), comm.get());
    const int chunk = test_chunk_rows(n, n_test, block);
    for (int r0 = 0; r0 < n_test; r0 += chunk) {
      const int m = std::min(chunk, n_test - r0);
      la::DistMatrix<double> kt(grid_, m, n, block);
      model::assemble_kernel(kernel, test_points, r0, m, centres, false, kt);
      la::scalapack::gemm('N', 'N', m, classes, n, 1.0, kt, 0, 0, a, 0, 0, 0.0, pred, r0, 0);
    }
    if (regression) {
      const model::RegressionMetrics m = model::regression_metrics(pred, *regression->test);
      result.test_mse = m.mse;
      result.test_r2 = m.r2;
    } else {
      result.test_accuracy = model::accuracy(pred, test_labels);
    }
  }

  // 5. S = G^{1/2}.
  checkpoint_phase("sqrt");
  la::MatrixSqrt s;
  {
    ScopedPhase phase(timers, "sqrt", 9.0 * dd * dd * dd, comm.get());
    s = la::symmetric_sqrt(result.agop, d, comm);
  }
  result.agop_eigenvalues = s.eigenvalues;
  result.clipped_eigenvalues = s.clipped;

  // 6. X S (stage 2), then ReLU(X S W^T) (stage 3).
  const int width = config_.width;
  const std::vector<double> w =
      model::random_feature_matrix(width, d, config_.seed, layer, config_.feature_init);
  auto project_and_map = [&](la::DistMatrix<double>& features, bool measure) {
    la::DistMatrix<double> xs(grid_, features.rows(), d, block);
    {
      ScopedPhase phase(timers, "feature_map", 2.0 * features.rows() * dd * (dd + width),
                        comm.get());
      model::multiply_replicated(features, s.sqrt, d, xs);
    }
    if (measure && !regression) {
      ScopedPhase phase(timers, "metrics", 0, comm.get());
      result.projected = model::neural_collapse(xs, labels, classes);
    }
    la::DistMatrix<double> mapped(grid_, features.rows(), width, block);
    {
      ScopedPhase phase(timers, "feature_map", 0, comm.get());
      model::apply_random_features(xs, w, width, mapped);
    }
    if (keep != nullptr && measure && metric_sqrt.empty()) keep->centres = std::move(features);
    features = std::move(mapped);
    if (measure && !regression) {
      ScopedPhase phase(timers, "metrics", 0, comm.get());
      result.mapped = model::neural_collapse(features, labels, classes);
    }
  };
  checkpoint_phase("feature_map");
  project_and_map(x, true);
  if (n_test > 0) project_and_map(x_test, false);

  // 7. Guard against NaN/Inf in the next layer's features (all ranks agree).
  set_run_context(layer, "feature_map");
  if (fault_requested("nan", layer, "feature_map", me) && x.local_rows() > 0 && x.local_cols() > 0)
    x.local(0, 0) = std::numeric_limits<double>::quiet_NaN();
  auto all_finite = [](const la::DistMatrix<double>& m) {
    for (int lj = 0; lj < m.local_cols(); ++lj)
      for (int li = 0; li < m.local_rows(); ++li)
        if (!std::isfinite(m.local(li, lj))) return false;
    return true;
  };
  DEEPRFM_AGREE(comm, all_finite(x), numerical,
                where << ": the training features after the random feature map are not finite");
  DEEPRFM_AGREE(comm, all_finite(x_test), numerical,
                where << ": the test features after the random feature map are not finite");

  if (keep != nullptr) {
    keep->layer = layer;
    keep->dim_in = d;
    keep->ridge = result.ridge;
    keep->coefficients = std::move(a);
    if (!metric_sqrt.empty()) {
      keep->centres = std::move(mapped_x);
      keep->kernel_map = metric_sqrt;
    }
    keep->sqrt_agop = std::move(s.sqrt);
    keep->random_features = w;
    keep->test_predictions = std::move(pred);
  }
  reduce_timers(timers, comm, result.timers);
  result.peak_rss_bytes = comm.max(peak_rss_bytes());
  result.wall_seconds = comm.max(wall_seconds() - wall_start);
  set_run_context(layer, "");
  return result;
}

}  // namespace deeprfm::rfm
