#include <deeprfm/mlp/run.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>

#include <deeprfm/base/error.hpp>
#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/mpi/timer.hpp>
#include <deeprfm/la/process_grid.hpp>
#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/la/blas_info.hpp>
#include <deeprfm/mlp/results_writer.hpp>
#include <deeprfm/mlp/trainer.hpp>

namespace deeprfm::mlp {

void print_measurement(const Measurement& m) {
  std::printf("epoch %4d  loss %.3e / %.3e  acc %.4f / %.4f | NC1 (H > SV'H > ReLU)", m.epoch,
              m.eval.train_loss, m.eval.test_loss, m.eval.train_accuracy, m.eval.test_accuracy);
  for (const auto& l : m.layers)
    std::printf("  L%d %.2e>%.2e>%.2e", l.layer + 1, l.collapse.input.nc1, l.collapse.projected.nc1,
                l.collapse.mapped.nc1);
  std::printf(" | NFA corr (G, G^1/2)");
  for (const auto& l : m.layers)
    std::printf("  L%d %.3f %.3f", l.layer + 1, l.nfa_corr, l.nfa_corr_sqrt);
  std::printf(" | %.1f s\n", m.seconds);
  std::fflush(stdout);
}

void print_final_table(const std::vector<std::vector<double>>& rows) {
  if (rows.empty()) return;
  const auto& cols = metric_columns();
  auto col = [&](const char* name) {
    return static_cast<std::size_t>(std::find(cols.begin(), cols.end(), name) - cols.begin());
  };
  const double last = rows.back()[col("epoch")];
  const auto& r0 = rows.back();
  std::printf("\nfinal measurement (epoch %d): train loss %.4e acc %.4f, test loss %.4e acc %.4f\n",
              static_cast<int>(last), r0[col("train_loss")], r0[col("train_accuracy")],
              r0[col("test_loss")], r0[col("test_accuracy")]);
  std::printf("%-5s %11s %11s %11s %9s %9s | %11s %11s %11s | %9s %9s\n", "layer", "NC1(H)",
              "NC1(SV'H)", "NC1(ReLU)", "x SV'", "x ReLU", "NC2(H)", "NC2(SV'H)", "NC2(ReLU)",
              "NFA corr", "NFA sqrt");
  for (const auto& r : rows) {
    if (r[col("epoch")] != last) continue;
    const double in = r[col("nc1_input")], pr = r[col("nc1_projected")], ma = r[col("nc1_mapped")];
    std::printf("%-5d %11.4e %11.4e %11.4e %9.3f %9.3f | %11.4e %11.4e %11.4e | %9.4f %9.4f\n",
                static_cast<int>(r[col("layer")]), in, pr, ma, pr / in, ma / pr,
                r[col("nc2_etf_input")], r[col("nc2_etf_projected")], r[col("nc2_etf_mapped")],
                r[col("nfa_corr")], r[col("nfa_corr_sqrt")]);
  }
  std::printf(
      "x SV' = NC1(Sigma V^T H) / NC1(H), x ReLU = NC1(ReLU(U Sigma V^T H)) / "
      "NC1(Sigma V^T H): the factors by which each stage changes NC1\n");
  std::fflush(stdout);
}

RunSummary run_mlp(const RunSettings& s, const mpi::Communicator& world,
                   CheckpointStore* existing) {
  const double start = wall_seconds();
  const bool root = world.rank() == 0;
  const bool talk = root && !s.quiet;
  const MlpConfig& cfg = s.model;
  la::ProcessGrid grid(world, la::most_square_shape(world.size()));

  CheckpointStore fresh(s.output, world);
  CheckpointStore& store = existing != nullptr ? *existing : fresh;
  if (existing == nullptr) {
    // Refuse a bad output path or an existing file before any work.
    h5::File::check_path(
        s.output, s.overwrite ? h5::File::Mode::create_truncate : h5::File::Mode::create_exclusive,
        world);
  } else {
    DEEPRFM_AGREE_ABOUT(world, store.completed_epochs() <= cfg.epochs, input, "epochs",
                        "checkpoint " << store.path() << ": " << cfg.epochs
                                      << " epochs asked for, below the " << store.completed_epochs()
                                      << " epochs the stored run has done");
  }
  set_run_context(-1, "load");
  data::TrainTest data = data::load_train_test(s.data, grid, s.block);
  const int n = data.train.n(), d = data.train.dim(), classes = data.train.classes;
  Trainer trainer(cfg, data);
  if (talk) {
    std::printf("data: %s\n      n = %d training points, %d test points, d = %d, C = %d\n",
                data.description.c_str(), n, data.test.n(), d, classes);
    std::printf(
        "model: %d hidden layers of width %d, %zu parameters, init gain %g, %s lr %g, "
        "batch %d, %d epochs, measurements every %d epochs, seed %llu\n",
        cfg.hidden_layers, cfg.hidden_width, trainer.network().parameter_count(), cfg.init_gain,
        to_string(cfg.optimizer).c_str(), cfg.lr, cfg.batch_size, cfg.epochs, cfg.measure_every,
        static_cast<unsigned long long>(cfg.seed));
    std::fflush(stdout);
  }
  set_run_context(-1, "setup");
  if (existing != nullptr) {
    const std::vector<std::int64_t> labels(data.train.labels.begin(), data.train.labels.end());
    DEEPRFM_AGREE_ABOUT(
        world, labels == store.train_labels() && d == store.input_dim(), input, "resume",
        "checkpoint " << store.path() << ": the data loaded with the stored options (n = " << n
                      << ", d = " << d << ") are not those of the stored run"
                      << " (n = " << store.train_labels().size() << ", d = " << store.input_dim()
                      << "); the data files changed?");
    if (store.has_state()) {
      const TrainingState st = store.load_state();
      mpi::run_agreed(world, [&] {
        trainer.restore(st.parameters, st.first_moment, st.second_moment, st.steps);
      });
    }
    if (talk)
      std::printf("resuming %s after epoch %d of %d (%d measurements stored)\n",
                  store.path().c_str(), store.completed_epochs(), cfg.epochs,
                  static_cast<int>(store.metric_rows().size()) / std::max(cfg.hidden_layers, 1));
  } else {
    RunHeader header;
    header.command_line = s.command_line;
    header.options = s.options;
    header.ranks = world.size();
    const la::BlasInfo blas = la::blas_info();
    header.blas_library = blas.library;
    header.blas_threads = blas.threads;
    header.parameters = static_cast<std::int64_t>(trainer.network().parameter_count());
    store.create(s.overwrite, header, data, cfg.epochs);
  }
  data.train.x.reset();  // the trainer holds its own row-sharded copy
  data.test.x.reset();
  set_run_context(-1, "train");

  std::vector<std::vector<double>> metric_rows = store.metric_rows();
  std::vector<std::vector<double>> epoch_rows = store.epoch_rows();
  int last_measured = metric_rows.empty() ? -1 : static_cast<int>(metric_rows.back()[0]);
  std::vector<Measurement> pending;  // measured, not yet committed
  const double prior_wall = store.wall_seconds();

  auto measure_now = [&](int epoch) {
    set_run_context(-1, "measure");
    Measurement m = trainer.measure(epoch);
    set_run_context(-1, "train");
    if (talk) print_measurement(m);
    const bool agops = s.save_agops == "all" || (s.save_agops == "last" && epoch == cfg.epochs);
    if (!agops)
      for (auto& l : m.layers) l.agop = {};
    for (const auto& l : m.layers) metric_rows.push_back(metric_row(m, l));
    last_measured = epoch;
    pending.push_back(std::move(m));
  };
  auto commit = [&](int epoch, bool final) {
    set_run_context(-1, "checkpoint");
    TrainingState st;
    st.epoch = epoch;
    st.parameters = trainer.network().parameters();
    st.first_moment = trainer.optimizer().first_moment();
    st.second_moment = trainer.optimizer().second_moment();
    st.steps = trainer.optimizer().steps();
    double wall = prior_wall + (wall_seconds() - start);
    world.broadcast(&wall, 1, 0);
    {
      CommitInProgress committing;  // the watchdog lets it finish
      store.commit(st, pending, metric_rows, epoch_rows, cfg.epochs,
                   final && s.save_weights ? &trainer.network() : nullptr, wall, final);
      set_progress(epoch + 1, epoch);
    }
    pending.clear();
    set_run_context(-1, "train");
  };

  const int first_epoch = store.completed_epochs() + 1;
  set_progress(first_epoch, store.has_state() ? store.completed_epochs() : 0);
  if (!store.has_state()) {
    measure_now(0);
    commit(0, false);
  }
  if (first_epoch > cfg.epochs) {
    // The stored run already has every epoch asked for: add the final measurement if the run
    // was stopped between measurements, then mark it complete.
    if (last_measured != cfg.epochs) measure_now(cfg.epochs);
    if (!pending.empty() || !store.complete()) {
      commit(cfg.epochs, true);
    } else if (talk) {
      std::printf("%s already holds %d complete epochs: nothing to do\n", store.path().c_str(),
                  cfg.epochs);
    }
  }
  double train_seconds = 0;
  // With a deadline: rank 0's clock at the last epoch end, and the longest span between two
  // epoch ends (an epoch, its measurement and commit if any): the next epoch's prediction.
  const bool timed = s.limits.deadline > 0;
  double last_mark = timed ? agreed_unix_now(world) : 0, longest_span = 0;
  for (int epoch = first_epoch; epoch <= cfg.epochs; ++epoch) {
    set_progress(epoch, store.completed_epochs());
    const bool final = epoch == cfg.epochs;
    const bool measure = final || (cfg.measure_every > 0 && epoch % cfg.measure_every == 0);
    const bool evaluate = !measure && cfg.eval_every > 0 && epoch % cfg.eval_every == 0;
    EpochRecord record = trainer.train_epoch(epoch, evaluate);
    train_seconds += record.seconds;
    if (measure) {
      measure_now(epoch);
      record.evaluated = true;
      record.eval = pending.back().eval;
    }
    epoch_rows.push_back(epoch_row(record));
    // The safe point: one reduction at the end of every epoch (not after the last one).
    int signal = final ? 0 : agreed_stop_signal(world);
    if (!final && epoch == s.simulated_stop_epoch) signal = SIGUSR1;
    bool out_of_time = false;
    double left = 0;
    if (timed && !final) {
      const double now = agreed_unix_now(world);  // rank 0's clock: every rank decides alike
      longest_span = std::max(longest_span, now - last_mark);
      last_mark = now;
      left = s.limits.deadline - now - s.limits.stop_margin;
      out_of_time = longest_span > left;
    }
    if (signal != 0 || out_of_time) note_orderly_stop();  // the watchdog lets us finish
    const bool periodic = s.checkpoint_every > 0 && epoch % s.checkpoint_every == 0;
    if (measure || periodic || signal != 0 || out_of_time) commit(epoch, final);
    if (out_of_time && signal == 0) {
      char text[512];
      std::snprintf(text, sizeof(text),
                    "epoch %d needs about %.3g s (measured) but only %.3g s are left before the "
                    "time limit: stopping with epochs 1-%d checkpointed in %s",
                    epoch + 1, longest_span, std::max(left, 0.0), epoch, store.path().c_str());
      throw TimeLimitStop(kExitStoppedBySignal, text);
    }
    if (signal != 0) {
      if (root)
        std::printf("stop signal %d: checkpoint after epoch %d of %d committed to %s\n", signal,
                    epoch, cfg.epochs, store.path().c_str());
      std::fflush(stdout);
      throw StopRequested(signal);
    }
  }
  set_run_context(-1, "");

  RunSummary out;
  out.epochs_done = store.completed_epochs();
  out.metric_rows = metric_rows;
  out.epoch_rows = epoch_rows;
  out.parameters = trainer.network().parameters();
  if (root) {  // also with --quiet: the final table is the run's answer
    print_final_table(metric_rows);
    std::printf(
        "time: %.1f s wall in this invocation (training %.1f s), %.1f s over all "
        "invocations\nresults: %s\n",
        wall_seconds() - start, train_seconds, store.wall_seconds(), store.path().c_str());
    std::fflush(stdout);
  }
  return out;
}

}  // namespace deeprfm::mlp
