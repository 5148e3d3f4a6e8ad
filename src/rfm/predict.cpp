// deeprfm predict (include/deeprfm/rfm/predict.hpp).
#include <deeprfm/rfm/predict.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include <deeprfm/base/error.hpp>
#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/la/blas_info.hpp>
#include <deeprfm/la/process_grid.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/model/kernel_matrix.hpp>
#include <deeprfm/model/neural_collapse.hpp>
#include <deeprfm/model/solver.hpp>
#include <deeprfm/model/vector_math.hpp>
#include <deeprfm/mpi/timer.hpp>
#include <deeprfm/rfm/deep_rfm.hpp>
#include <deeprfm/rfm/results_writer.hpp>
#include <deeprfm/rfm/saved_model.hpp>
#include <deeprfm/store/atomic_file.hpp>
#include <deeprfm/store/results_file.hpp>
#include <deeprfm/version.hpp>

namespace deeprfm::rfm {

namespace {

/// max |a - b| / max |b| over two matrices of one shape on one grid (NaN for another shape).
/// Collective.
double relative_difference(const la::DistMatrix<double>& a, const la::DistMatrix<double>& b,
                           const mpi::Communicator& comm) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return std::numeric_limits<double>::quiet_NaN();
  double diff = 0, scale = 0;
  for (int lj = 0; lj < a.local_cols(); ++lj)
    for (int li = 0; li < a.local_rows(); ++li) {
      diff = std::max(diff, std::fabs(a.local(li, lj) - b.local(li, lj)));
      scale = std::max(scale, std::fabs(b.local(li, lj)));
    }
  diff = comm.max(diff);
  scale = comm.max(scale);
  return scale > 0 ? diff / scale : diff;
}

struct StageMetrics {
  model::CollapseMetrics input, projected, mapped;
};

}  // namespace

int run_predict(const PredictSettings& opt, const mpi::Communicator& world) {
  const bool root = world.rank() == 0;
  const bool talk = root && !opt.quiet;
  la::set_blas_threads(opt.blas_threads);
  const int block = opt.block > 0 ? opt.block : la::kDefaultBlockSize;
  la::set_pblas_logical_block(la::default_pblas_logical_block(block));
  la::GridShape shape;
  mpi::run_agreed(world, [&] {
    DEEPRFM_CHECK_ABOUT(opt.layers >= 0, input, "layers",
                        "the number of layers must be >= 0 (0 = all), got " << opt.layers);
    DEEPRFM_CHECK_ABOUT(!opt.output.empty(), input, "output", "the output must name a file");
    DEEPRFM_CHECK_ABOUT(opt.model_path != opt.output, input, "output",
                        "the output " << opt.output << " is the model file itself");
    shape = opt.grid.empty() ? la::most_square_shape(world.size()) : la::parse_grid_shape(opt.grid);
    DEEPRFM_CHECK_ABOUT(shape.rows * shape.cols == world.size(), input, "grid",
                        "process grid " << shape.str() << " has " << shape.rows * shape.cols
                                        << " processes but the job has " << world.size()
                                        << " MPI ranks");
  });
  mpi::run_agreed(world, [] { model::vector_math_path(); });
  h5::File::check_path(
      opt.output,
      opt.overwrite ? h5::File::Mode::create_truncate : h5::File::Mode::create_exclusive, world);
  const SavedModel saved(opt.model_path, world);
  const ModelInfo& info = saved.info();
  const int layers = opt.layers > 0 ? opt.layers : info.layers;
  mpi::run_agreed(world, [&] {
    DEEPRFM_CHECK_ABOUT(
        layers <= info.layers, input, "layers",
        opt.model_path << " holds " << info.layers << " layers; " << layers << " asked for");
  });
  la::ProcessGrid grid(world, shape);
  if (talk) {
    std::printf(
        "deeprfm predict %s (%s): %d MPI ranks, grid %s, block %d; model %s (deeprfm %s, "
        "%d layers, %s kernel, bandwidth %g, width %d)\n",
        kVersion, kGitRevision, world.size(), shape.str().c_str(), block, opt.model_path.c_str(),
        saved.written_by().c_str(), info.layers, model::to_string(info.kernel.kind).c_str(),
        info.kernel.bandwidth, info.width);
    std::fflush(stdout);
  }

  data::FeatureStatistics statistics{info.feature_mean, info.feature_std};
  data::DataOptions data_options = opt.data;
  data_options.classes = info.classes;
  data_options.test_own_statistics = info.test_own_statistics;
  const bool regression = info.regression;
  if (regression) data_options.task = data::Task::regression;
  mpi::run_agreed(world, [&] {
    DEEPRFM_CHECK_ABOUT(
        !(regression && opt.metrics), input, "metrics",
        "the neural-collapse metrics need classes; " << opt.model_path << " is a regression model");
  });
  std::string description;
  data::Dataset set = data::load_test_set(data_options, regression ? 1 : info.classes, statistics,
                                          grid, block, description);
  const int m = set.n(), classes = info.classes;
  if (talk) {
    std::printf("data: %s; %d points\n", description.c_str(), m);
    std::fflush(stdout);
  }

  std::vector<la::DistMatrix<double>> predictions;
  std::vector<LayerPrediction> results;
  std::vector<StageMetrics> metrics;
  la::DistMatrix<double>& z = set.x;
  for (int l = 0; l < layers; ++l) {
    const double start = wall_seconds();
    const std::string where = "layer " + std::to_string(l + 1);
    const LayerModel layer = saved.load_layer(l, grid, block, opt.data_is_runs);
    mpi::run_agreed(world, [&] {
      DEEPRFM_CHECK(layer.dim_in == z.cols(), input,
                    opt.model_path << ": " << where << " takes " << layer.dim_in
                                   << " features but its input has " << z.cols());
    });
    const int n = layer.centres.rows(), d = layer.dim_in;
    StageMetrics stage;
    model::normalize_rows(z, (where + ", features").c_str());
    if (opt.metrics) stage.input = model::neural_collapse(z, set.labels, classes);
    // P = k(Z R, X_l) A_l (R = kernel_map, the identity without one), in chunks of rows as
    // in training (deep_rfm.cpp).
    la::DistMatrix<double> mapped_z;
    if (!layer.kernel_map.empty()) {
      mapped_z = la::DistMatrix<double>(grid, m, d, block);
      model::multiply_replicated(z, layer.kernel_map, d, mapped_z);
    }
    const la::DistMatrix<double>& points = layer.kernel_map.empty() ? z : mapped_z;
    la::DistMatrix<double> pred(grid, m, classes, block);
    const int chunk = test_chunk_rows(n, m, block);
    for (int r0 = 0; r0 < m; r0 += chunk) {
      const int rows = std::min(chunk, m - r0);
      la::DistMatrix<double> kt(grid, rows, n, block);
      model::assemble_kernel(info.kernel, points, r0, rows, layer.centres, false, kt);
      la::scalapack::gemm('N', 'N', rows, classes, n, 1.0, kt, 0, 0, layer.coefficients, 0, 0, 0.0,
                          pred, r0, 0);
    }
    LayerPrediction result;
    if (regression) {
      const model::RegressionMetrics m = model::regression_metrics(pred, set.targets);
      result.accuracy = std::numeric_limits<double>::quiet_NaN();
      result.mse = m.mse;
      result.r2 = m.r2;
    } else {
      result.accuracy = model::accuracy(pred, set.labels);
    }
    result.difference_from_run = opt.data_is_runs
                                     ? relative_difference(pred, layer.test_predictions, world)
                                     : std::numeric_limits<double>::quiet_NaN();
    // The next layer's input: ReLU(Z S W^T).
    if (l + 1 < layers || opt.metrics) {
      la::DistMatrix<double> zs(grid, m, d, block);
      model::multiply_replicated(z, layer.sqrt_agop, d, zs);
      if (opt.metrics) stage.projected = model::neural_collapse(zs, set.labels, classes);
      la::DistMatrix<double> mapped(grid, m, info.width, block);
      model::apply_random_features(zs, layer.random_features, info.width, mapped);
      z = std::move(mapped);
      if (opt.metrics) stage.mapped = model::neural_collapse(z, set.labels, classes);
    }
    result.seconds = world.max(wall_seconds() - start);
    if (talk) {
      if (regression)
        std::printf("layer %3d  d=%-5d mse %.4e  R2 %.6f", l + 1, d, result.mse, result.r2);
      else
        std::printf("layer %3d  d=%-5d accuracy %.4f", l + 1, d, result.accuracy);
      if (opt.metrics)
        std::printf("  NC1 X %.3e  XS %.3e  ReLU %.3e", stage.input.nc1, stage.projected.nc1,
                    stage.mapped.nc1);
      if (opt.data_is_runs) std::printf("  vs run %.1e", result.difference_from_run);
      std::printf("  %.2f s\n", result.seconds);
      std::fflush(stdout);
    }
    predictions.push_back(std::move(pred));
    results.push_back(result);
    metrics.push_back(stage);
  }

  // The whole file at once, under a temporary name, renamed at the end: never a torn file.
  store::write_file_atomically(
      opt.output,
      [&](const std::string& tmp) {
        h5::File f(tmp, h5::File::Mode::create_truncate, world);
        store::write_program_attributes(f, kProgramName);
        f.write_attribute("/", "content", std::string("predictions"));
        f.write_attribute("/", "model", opt.model_path);
        f.write_attribute("/", "model_version", saved.written_by());
        f.write_attribute("/", "command_line", opt.command_line);
        f.write_attribute("/", "ranks", static_cast<std::int64_t>(world.size()));
        f.write_attribute("/", "grid", shape.str());
        f.ensure_group("/data");
        f.write_attribute("/data", "description", description);
        f.write_attribute("/data", "n", static_cast<std::int64_t>(m));
        f.write_attribute("/data", "classes", static_cast<std::int64_t>(classes));
        f.write_replicated("/data/labels", {hsize_t(set.labels.size())}, set.labels.data());
        f.write_replicated("/data/source_index", {hsize_t(set.source_index.size())},
                           set.source_index.data());
        f.write_attribute("/data", "task",
                          std::string(regression ? "regression" : "classification"));
        if (regression)
          f.write_replicated("/data/targets", {hsize_t(m), hsize_t(classes)}, set.targets.data());
        std::vector<std::string> columns = {"layer", "accuracy", "seconds"};
        if (regression) columns = {"layer", "mse", "r2", "seconds"};
        if (opt.data_is_runs) columns.push_back("difference_from_run");
        if (opt.metrics)
          for (const char* stage : {"input", "projected", "mapped"})
            for (const char* metric : {"nc1", "nc1_pinv", "nc2_etf", "nc2_orth"})
              columns.push_back(std::string(metric) + "_" + stage);
        std::vector<std::vector<double>> rows;
        for (int l = 0; l < layers; ++l) {
          const std::string g = "/layers/" + store::layer_group(l);
          f.ensure_group(g);
          f.write_distributed(g + "/predictions", predictions[l]);
          f.write_attribute(g, "layer", static_cast<std::int64_t>(l + 1));
          f.write_attribute(g, "seconds", results[l].seconds);
          std::vector<double> row = {double(l + 1), results[l].accuracy, results[l].seconds};
          if (regression) {
            f.write_attribute(g, "mse", results[l].mse);
            f.write_attribute(g, "r2", results[l].r2);
            row = {double(l + 1), results[l].mse, results[l].r2, results[l].seconds};
          } else {
            f.write_attribute(g, "accuracy", results[l].accuracy);
          }
          if (opt.data_is_runs) {
            f.write_attribute(g, "difference_from_run", results[l].difference_from_run);
            row.push_back(results[l].difference_from_run);
          }
          if (opt.metrics) {
            const StageMetrics& s = metrics[l];
            store::write_collapse_attributes(f, g, "input", s.input);
            store::write_collapse_attributes(f, g, "projected", s.projected);
            store::write_collapse_attributes(f, g, "mapped", s.mapped);
            for (const model::CollapseMetrics* c : {&s.input, &s.projected, &s.mapped})
              row.insert(row.end(), {c->nc1, c->nc1_pinv, c->nc2_etf, c->nc2_orth});
          }
          rows.push_back(std::move(row));
        }
        store::write_table(f, "/metrics", columns, rows);
        f.close();
      },
      world);
  if (talk) std::printf("predictions: %s\n", opt.output.c_str());
  return 0;
}

}  // namespace deeprfm::rfm
