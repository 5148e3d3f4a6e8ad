// The deeprfm program's run, from the data to the last layer's commit
// (include/deeprfm/rfm/run.hpp).
#include <deeprfm/rfm/run.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include <deeprfm/base/error.hpp>
#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/la/blas_info.hpp>
#include <deeprfm/la/process_grid.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/model/vector_math.hpp>
#include <deeprfm/rfm/deep_rfm.hpp>
#include <deeprfm/rfm/results_writer.hpp>
#include <deeprfm/version.hpp>

namespace deeprfm::rfm {

namespace {

void print_layer(const LayerResult& l) {
  double seconds = 0;
  for (const auto& name : l.timers.order()) seconds += l.timers.at(name).seconds;
  if (!std::isnan(l.train_mse)) {  // regression: no classes, no collapse metrics
    std::printf(
        "layer %3d  d=%-5d mse train %.4e test %.4e | R2 train %.6f test %.6f | res %.1e rcond "
        "%.1e | %.1f s\n",
        l.layer + 1, l.dim_in, l.train_mse, l.test_mse, l.train_r2, l.test_r2, l.residual, l.rcond,
        seconds);
    std::fflush(stdout);
    return;
  }
  std::printf(
      "layer %3d  d=%-5d NC1 X %.3e  XS %.3e  ReLU %.3e | NC2 X %.3e  XS %.3e  ReLU %.3e | "
      "acc train %.4f test %.4f | res %.1e rcond %.1e | %.1f s\n",
      l.layer + 1, l.dim_in, l.input.nc1, l.projected.nc1, l.mapped.nc1, l.input.nc2_etf,
      l.projected.nc2_etf, l.mapped.nc2_etf, l.train_accuracy, l.test_accuracy, l.residual, l.rcond,
      seconds);
  std::fflush(stdout);
}

// One line per layer: seconds (max over ranks), GF/s of the whole problem, and the MB that
// rank 0 sent through MPI during the phase, with the off-node part when there is one (the file
// stores the sum and maximum over ranks of both).
void print_phases(const LayerResult& l) {
  std::printf("          peak RSS %.0f MiB/rank; phases:", l.peak_rss_bytes / (1 << 20));
  for (const auto& name : l.timers.order()) {
    const auto& r = l.timers.at(name);
    std::printf(" %s %.2fs", name.c_str(), r.seconds);
    const bool rate = r.flops > 0 && r.seconds > 0, sent = r.bytes > 0;
    if (rate || sent) {
      std::printf(" (");
      if (rate) std::printf("%.1f GF/s", r.flops / r.seconds * 1e-9);
      if (sent) std::printf("%s%.3g MB", rate ? ", " : "", r.bytes * 1e-6);
      if (r.off_node_bytes > 0) std::printf(", %.3g MB off-node", r.off_node_bytes * 1e-6);
      std::printf(")");
    }
  }
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

void print_metric_table(const std::vector<std::vector<double>>& rows) {
  // rows are metric_row() values; columns by name.
  const auto& columns = metric_columns();
  auto col = [&](const char* name) {
    return static_cast<std::size_t>(std::find(columns.begin(), columns.end(), name) -
                                    columns.begin());
  };
  if (!rows.empty() && !std::isnan(rows.front()[col("train_mse")])) {  // regression
    std::printf("\n%-5s %12s %12s %10s %10s | %8s\n", "layer", "mse(train)", "mse(test)",
                "R2(train)", "R2(test)", "seconds");
    for (const auto& r : rows)
      std::printf("%-5d %12.4e %12.4e %10.6f %10.6f | %8.2f\n", static_cast<int>(r[col("layer")]),
                  r[col("train_mse")], r[col("test_mse")], r[col("train_r2")], r[col("test_r2")],
                  r[col("seconds")]);
    std::fflush(stdout);
    return;
  }
  std::printf("\n%-5s %11s %11s %11s | %11s %11s %11s | %11s %11s | %8s %8s | %8s\n", "layer",
              "NC1(X)", "NC1(XS)", "NC1(ReLU)", "NC2(X)", "NC2(XS)", "NC2(ReLU)", "NC1pinv(X)",
              "NC1pinv(XS)", "train", "test", "seconds");
  for (const auto& r : rows) {
    std::printf(
        "%-5d %11.4e %11.4e %11.4e | %11.4e %11.4e %11.4e | %11.4e %11.4e | %8.4f %8.4f | %8.2f\n",
        static_cast<int>(r[col("layer")]), r[col("nc1_input")], r[col("nc1_projected")],
        r[col("nc1_mapped")], r[col("nc2_etf_input")], r[col("nc2_etf_projected")],
        r[col("nc2_etf_mapped")], r[col("nc1_pinv_input")], r[col("nc1_pinv_projected")],
        r[col("train_accuracy")], r[col("test_accuracy")], r[col("seconds")]);
  }
  if (rows.size() >= 2) {
    const double first = rows.front()[col("nc1_input")], last = rows.back()[col("nc1_mapped")];
    std::printf("NC1 from layer 1 input to layer %zu output: %.4e -> %.4e (x%.3g)\n", rows.size(),
                first, last, last / first);
  }
  std::fflush(stdout);
}

namespace {

/// Refuse a run that will not fit, before allocating: the same estimate the program prints.
void check_memory(const RunSettings& opt, const mpi::Communicator& world, double estimate,
                  double baseline, int grid_rows, int grid_cols, int n, int d, int classes,
                  int n_test) {
  const double available = opt.mem_limit > 0 ? opt.mem_limit : available_memory_per_rank(world);
  if (estimate <= available) return;
  // What would fit: the smallest rank count, and the largest n at this rank count.
  int ranks = world.size();
  while (ranks < (1 << 20) &&
         baseline + estimate_memory_per_rank(n, d, opt.model.width, classes, n_test, 1, ranks,
                                             opt.model.mixed_precision, opt.model.iterations) >
             available)
    ranks *= 2;
  int lo = 0, hi = n;
  while (lo < hi) {
    const int mid = static_cast<int>((static_cast<std::int64_t>(lo) + hi + 1) / 2);
    if (baseline + estimate_memory_per_rank(mid, d, opt.model.width, classes, n_test, grid_rows,
                                            grid_cols, opt.model.mixed_precision,
                                            opt.model.iterations) <=
        available)
      lo = mid;
    else
      hi = mid - 1;
  }
  mpi::run_agreed(world, [&] {
    DEEPRFM_THROW_ABOUT(resource, opt.mem_limit > 0 ? "mem-limit" : "",
                        "the run needs about "
                            << estimate / (1 << 30) << " GiB per rank but " << available / (1 << 30)
                            << " GiB are available per rank"
                            << (opt.mem_limit > 0 ? " (the given memory limit)" : "")
                            << "; it would fit on " << ranks << " ranks, or with n = " << lo
                            << " training points on " << world.size() << " ranks");
  });
}

/// "120 s", "2.5 s", "0.03 s".
std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), std::fabs(s) >= 10 ? "%.0f s" : "%.2g s", s);
  return buf;
}

/// The time-limit check before a layer (docs/checkpointing.md, "Time limits and the watchdog").
/// Every decision is taken from values that are the same on every rank (rank 0's clock, the
/// agreed timings, the agreed DGEMM rate) and confirmed by a broadcast, so every rank throws
/// the same TimeLimitStop or none does.
class LayerClock {
 public:
  LayerClock(const TimeLimits& limits, const mpi::Communicator& world, double process_start,
             bool talk, int iterations)
      : limits_(limits),
        world_(world),
        process_start_(process_start),
        talk_(talk),
        iterations_(iterations) {}

  bool timed() const { return limits_.deadline > 0; }

  /// Stored layers of a resumed run: their wall seconds (the layer groups' wall_seconds, without
  /// the commit), scaled to this rank count (linear scaling: an estimate).
  void add_stored(const RunStore& store) {
    const auto& columns = metric_columns();
    const auto col = static_cast<std::size_t>(std::find(columns.begin(), columns.end(), "seconds") -
                                              columns.begin());
    const auto& rows = store.metric_rows();
    for (std::size_t l = 0; l < rows.size() && l < store.layer_dims().size(); ++l) {
      const int ranks = store.layer_ranks()[l] > 0 ? store.layer_ranks()[l] : world_.size();
      // The layer's wall time (files from before it was recorded: the sum of its phases).
      const double seconds = std::max(rows[l][col], store.layer_wall_seconds()[l]);
      done_.push_back(
          {static_cast<int>(l) + 1, store.layer_dims()[l], seconds * ranks / world_.size()});
    }
  }

  /// Collective. Before layer `l` (0-based) of input dimension `dim`, with `completed_here`
  /// layers completed by this invocation: returns normally if the layer fits (or may run
  /// anyway), else throws TimeLimitStop on every rank.
  void before_layer(int l, int dim, int completed_here, double n, double width, double classes,
                    double n_test, const std::string& output) {
    if (!timed()) return;
    const double now = agreed_unix_now(world_);
    if (layer_start_ > 0) {
      // The previous layer of this invocation: run_layer and its commit, on rank 0's clock.
      done_.push_back({l, last_dim_, now - layer_start_});
    }
    if (flop_rate_ <= 0) {
      // A short local DGEMM per rank; the slowest rank sets the pace.
      flop_rate_ = world_.min(local_dgemm_rate()) * world_.size();
    }
    const auto flops = [&](int d) {
      return estimate_layer_flops(n, d, width, classes, n_test, iterations_);
    };
    const TimePrediction p = predict_unit_seconds(dim, done_, flops, flop_rate_);
    const double left = limits_.deadline - now - limits_.stop_margin;
    if (talk_ && !announced_) {
      const std::time_t t = static_cast<std::time_t>(limits_.deadline);
      char when[64];
      std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", std::localtime(&t));
      std::printf(
          "time limit: deadline %s (%s from now; stop margin %s, stop grace %s); layer %d "
          "needs about %s (%s)\n",
          when, seconds_text(limits_.deadline - now).c_str(),
          seconds_text(limits_.stop_margin).c_str(), seconds_text(limits_.stop_grace).c_str(),
          l + 1, seconds_text(p.seconds).c_str(), p.basis.c_str());
      std::fflush(stdout);
    }
    announced_ = true;
    layer_start_ = now;
    last_dim_ = dim;
    // 0: run; 1: stop with this invocation's layers checkpointed (75); 2: cannot make progress
    // (76); 3: run anyway after a warning (only the flop estimate says it will not fit).
    double verdict = 0;
    if (p.seconds > left) verdict = completed_here >= 1 ? 1 : p.measured ? 2 : 3;
    world_.broadcast(&verdict, 1, 0);
    if (verdict == 0) return;
    if (verdict != 3) note_orderly_stop();
    const std::string need = "layer " + std::to_string(l + 1) + " needs about " +
                             seconds_text(p.seconds) + " (" + p.basis + ")";
    if (verdict == 1) {
      const std::string layers = l == 1 ? "layer 1" : "layers 1-" + std::to_string(l);
      throw TimeLimitStop(kExitStoppedBySignal,
                          need + " but only " + seconds_text(std::max(left, 0.0)) +
                              " are left before the time limit: stopping with " + layers +
                              " checkpointed in " + output);
    }
    if (verdict == 2) {
      // What the job would need: its start-up so far, the layer, the margin, 10% slack.
      const double startup = now - process_start_;
      const double minutes = std::ceil((startup + 1.1 * p.seconds + limits_.stop_margin) / 60.0);
      throw TimeLimitStop(kExitCannotProgress,
                          "cannot make progress: " + need + " but the job has only " +
                              seconds_text(std::max(left, 0.0)) +
                              "; give the job a time limit of at least ~" +
                              std::to_string(static_cast<long>(minutes)) + " min");
    }
    if (world_.rank() == 0) {
      std::fprintf(stderr,
                   "deeprfm: warning: %s but only %s are left before the time limit; running it "
                   "anyway (the watchdog stops it %s before the deadline if it does not finish)\n",
                   need.c_str(), seconds_text(std::max(left, 0.0)).c_str(),
                   seconds_text(limits_.stop_margin).c_str());
      std::fflush(stderr);
    }
  }

 private:
  TimeLimits limits_;
  const mpi::Communicator& world_;
  double process_start_;
  bool talk_;
  int iterations_;
  bool announced_ = false;
  double flop_rate_ = 0;
  double layer_start_ = 0;
  int last_dim_ = 0;
  std::vector<UnitTiming> done_;
};

}  // namespace

int run_deep_rfm(const RunSettings& opt, const TimeLimits& limits, double process_start,
                 const mpi::Communicator& world, RunStore* existing, Watchdog& watchdog) {
  const bool root = world.rank() == 0;
  const bool talk = root && !opt.quiet;
  la::set_blas_threads(opt.blas_threads);
  la::set_pblas_logical_block(
      opt.pblas_block > 0 ? opt.pblas_block : la::default_pblas_logical_block(opt.model.block));
  LayerClock clock(limits, world, process_start, talk, opt.model.iterations);

  la::GridShape shape;
  mpi::run_agreed(world, [&] {
    shape = opt.grid.empty() ? la::most_square_shape(world.size()) : la::parse_grid_shape(opt.grid);
    DEEPRFM_CHECK_ABOUT(shape.rows * shape.cols == world.size(), input, "grid",
                        "process grid " << shape.str() << " has " << shape.rows * shape.cols
                                        << " processes but the job has " << world.size()
                                        << " MPI ranks");
  });
  // The kernels' vector-math path (DEEPRFM_VECTOR_MATH) is fixed here, before any work: a bad
  // value is one agreed input error, not an abort inside the first kernel assembly.
  mpi::run_agreed(world, [] { model::vector_math_path(); });
  la::ProcessGrid grid(world, shape);
  const la::BlasInfo blas = la::blas_info();
  if (talk) {
    std::printf(
        "deeprfm %s (%s): %d MPI ranks, grid %s, block %d (PBLAS %d), %s kernels '%s', %d "
        "BLAS thread(s) per rank\n",
        kVersion, kGitRevision, world.size(), shape.str().c_str(), opt.model.block,
        la::pblas_logical_block(), blas.library.c_str(), blas.kernels.c_str(), blas.threads);
    if (!blas.advice.empty()) std::printf("note: %s\n", blas.advice.c_str());
    std::fflush(stdout);
  }

  RunStore fresh(opt.output, world);
  RunStore& store = existing != nullptr ? *existing : fresh;
  data::TrainTest data;
  int first_layer = 0;
  if (existing != nullptr) {
    first_layer = store.completed_layers();
    set_progress(0, first_layer);
    clock.add_stored(store);
    if (first_layer >= opt.model.layers) {
      if (root) {
        std::printf("%s already holds %d complete layers (asked for %d): nothing to do\n",
                    opt.output.c_str(), first_layer, opt.model.layers);
        print_metric_table(store.metric_rows());
      }
      if (!store.complete()) {
        CommitInProgress committing;
        store.mark_complete(first_layer);
      }
      return 0;
    }
    if (talk)
      std::printf("resuming %s after layer %d of %d\n", opt.output.c_str(), first_layer,
                  opt.model.layers);
    set_run_context(-1, "load");
    if (first_layer == 0) {
      data = data::load_train_test(opt.data, grid, opt.model.block);
    } else {
      data = store.load_state(grid, opt.model.block);
    }
  } else {
    // Refuse a bad output path before any work; the file itself is created once the data
    // loaded, so a failed start leaves nothing behind that would block the next run.
    h5::File::check_path(
        opt.output,
        opt.overwrite ? h5::File::Mode::create_truncate : h5::File::Mode::create_exclusive, world);
    set_run_context(-1, "load");
    mpi::run_agreed(world, [&] { inject_fault_point(-1, "load", world.rank()); });
    if (opt.data.kind == "synthetic" && opt.data.n > 0) {
      // Synthetic data are generated at the size asked for: the memory guard runs before they
      // are (the file loaders refuse an n above what the file holds before allocating).
      const int n = static_cast<int>(opt.data.n), d = std::max(opt.data.dim, 1);
      const int classes = opt.data.classes > 0 ? opt.data.classes : 10;
      const int n_test = static_cast<int>(
          opt.data.n_test == 0 ? opt.data.n : std::max<std::int64_t>(opt.data.n_test, 0));
      const double baseline = world.max(current_rss_bytes());
      const double estimate =
          baseline + estimate_memory_per_rank(n, d, opt.model.width, classes, n_test, shape.rows,
                                              shape.cols, opt.model.mixed_precision,
                                              opt.model.iterations);
      check_memory(opt, world, estimate, baseline, shape.rows, shape.cols, n, d, classes, n_test);
    }
    data = data::load_train_test(opt.data, grid, opt.model.block);
  }
  set_run_context(-1, "setup");
  // Regression: the "classes" of the layers are the k target columns (A is n x k).
  const bool regression = data.train.regression();
  const int n = data.train.n(), d = data.train.dim();
  const int classes = regression ? data.train.target_columns : data.train.classes;
  const int n_test = data.test.n();
  // Every training label in [0, C) and every class present (the metrics of every layer need
  // them): one agreed input error before the results file is made, on a resume too. A regression
  // run has targets, not classes.
  if (!regression)
    mpi::run_agreed(world, [&] {
      std::vector<std::int64_t> per_class(static_cast<std::size_t>(std::max(classes, 0)), 0);
      for (std::size_t i = 0; i < data.train.labels.size(); ++i) {
        const int y = data.train.labels[i];
        DEEPRFM_CHECK_ABOUT(
            y >= 0 && y < classes, input, "classes",
            "training label " << y << " of sample " << i << " is outside [0, " << classes << ")");
        ++per_class[static_cast<std::size_t>(y)];
      }
      for (int c = 0; c < classes; ++c)
        DEEPRFM_CHECK_ABOUT(per_class[static_cast<std::size_t>(c)] > 0, input, "classes",
                            "class " << c << " has no training samples among the " << n
                                     << " selected (every class needs at least one; check "
                                        "--classes and --selection)");
    });
  // The process's own footprint (libraries, MPI, the loaded data) plus what the layers need.
  const double baseline = world.max(current_rss_bytes());
  const double estimate =
      baseline + estimate_memory_per_rank(n, d, opt.model.width, classes, n_test, shape.rows,
                                          shape.cols, opt.model.mixed_precision,
                                          opt.model.iterations);
  if (talk) {
    std::printf("data: %s\n      n = %d training points, %d test points, d = %d, C = %d\n",
                data.description.c_str(), n, n_test, d, classes);
    std::printf(
        "memory: about %.1f MiB per rank at the peak (n^2/P alone: %.1f MiB; this "
        "process now: %.1f MiB)\n",
        estimate / (1 << 20), 8.0 * n * double(n) / world.size() / (1 << 20), baseline / (1 << 20));
    if (opt.save_model) {
      // Layer 1 on d inputs, the later ones on the width.
      const double first = saved_model_layer_bytes(n, d, opt.model.width, classes, n_test);
      const double later =
          saved_model_layer_bytes(n, opt.model.width, opt.model.width, classes, n_test);
      std::printf(
          "disk: the saved model adds %.3g MiB for layer 1 and %.3g MiB for each later layer "
          "(%.3g MiB for %d layers) to the results file\n",
          first / (1 << 20), later / (1 << 20),
          (first + later * std::max(opt.model.layers - 1, 0)) / (1 << 20), opt.model.layers);
    }
    std::printf(
        "model: %d layers%s, %s kernel, bandwidth %g, ridge %g, width %d, %s features, "
        "seed %llu, %s precision\n",
        opt.model.layers,
        opt.model.iterations > 1
            ? (" x " + std::to_string(opt.model.iterations) + " RFM iterations").c_str()
            : "",
        model::to_string(opt.model.kernel.kind).c_str(), opt.model.kernel.bandwidth,
        opt.model.ridge, opt.model.width, model::to_string(opt.model.feature_init).c_str(),
        static_cast<unsigned long long>(opt.model.seed),
        opt.model.mixed_precision ? "mixed (single K, double refinement)" : "double");
    std::fflush(stdout);
  }
  check_memory(opt, world, estimate, baseline, shape.rows, shape.cols, n, d, classes, n_test);
  // A stop requested during start-up or loading ends the run here, before the results file is
  // made: nothing is left that a second start would trip on.
  set_run_context(-1, "setup");
  stop_point(world);

  if (existing == nullptr) {
    RunInfo info;
    info.command_line = opt.command_line;
    info.options = opt.effective;
    info.ranks = world.size();
    info.grid = shape;
    info.block = opt.model.block;
    info.blas_library = blas.library;
    info.blas_kernels = blas.kernels;
    info.blas_threads = blas.threads;
    info.memory_estimate_bytes = estimate;
    ModelInfo model_info;
    if (opt.save_model) {
      model_info.kernel = opt.model.kernel;
      model_info.width = opt.model.width;
      model_info.feature_init = opt.model.feature_init;
      model_info.seed = opt.model.seed;
      model_info.classes = classes;
      model_info.regression = regression;
      model_info.dim_input = d;
      model_info.test_own_statistics = opt.data.test_own_statistics;
      model_info.feature_mean = data.feature_mean;
      model_info.feature_std = data.feature_std;
    }
    store.create(opt.overwrite, info, data, opt.model.layers,
                 opt.save_model ? &model_info : nullptr);
    set_progress(0, 0);
  }

  DeepRfm model(opt.model, grid);
  for (int l = first_layer; l < opt.model.layers; ++l) {
    set_run_context(l, "start");
    clock.before_layer(l, data.train.x.cols(), l - first_layer, n, opt.model.width, classes, n_test,
                       opt.output);
    watchdog.arm_deadline();  // after the first check: its verdict comes first
    set_progress(l + 1, l);
    LayerModel kept;
    const RegressionTargets targets{&data.train.targets, &data.test.targets};
    const LayerResult result =
        model.run_layer(l, data.train.x, data.train.labels, classes, data.test.x, data.test.labels,
                        opt.save_model ? &kept : nullptr, regression ? &targets : nullptr);
    const bool save =
        opt.save_features == "all" || (opt.save_features == "last" && l + 1 == opt.model.layers);
    {
      CommitInProgress committing;
      store.commit_layer(result, data.train.x, data.test.x, save, opt.model.layers,
                         opt.save_model ? &kept : nullptr);
      const bool last = l + 1 == opt.model.layers;
      set_run_context(last ? -1 : l + 1, last ? "finish" : "start");
      set_progress(last ? 0 : l + 2, l + 1);
    }
    if (talk) {
      print_layer(result);
      print_phases(result);
    }
    if (l + 1 < opt.model.layers) {
      const int signal = agreed_stop_signal(world);
      if (signal != 0) {
        note_orderly_stop();
        throw StopRequested(signal);
      }
    }
  }
  {
    CommitInProgress committing;
    store.mark_complete(opt.model.layers);
  }
  if (root) {
    print_metric_table(store.metric_rows());
    std::printf("results: %s\n", opt.output.c_str());
  }
  return 0;
}

}  // namespace deeprfm::rfm
