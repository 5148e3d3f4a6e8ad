// deeprfm-mlp: the paper's neural-network experiment (Section 4, SPEC §5, docs/mlp.md).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <deeprfm/core/error.hpp>
#include <deeprfm/core/timer.hpp>
#include <deeprfm/data/dataset.hpp>
#include <deeprfm/grid/process_grid.hpp>
#include <deeprfm/la/blas_info.hpp>
#include <deeprfm/mlp/results_writer.hpp>
#include <deeprfm/mlp/trainer.hpp>
#include <deeprfm/mpi/environment.hpp>
#include <deeprfm/version.hpp>

#include "mlp_cli.hpp"

namespace {

using namespace deeprfm;

void print_measurement(const mlp::Measurement& m) {
  std::printf("epoch %4d  loss %.3e / %.3e  acc %.4f / %.4f | NC1 (H > SV'H > ReLU)", m.epoch,
              m.eval.train_loss, m.eval.test_loss, m.eval.train_accuracy, m.eval.test_accuracy);
  for (const auto& l : m.layers)
    std::printf("  L%d %.2e>%.2e>%.2e", l.layer + 1, l.collapse.input.nc1,
                l.collapse.projected.nc1, l.collapse.mapped.nc1);
  std::printf(" | NFA corr (G, G^1/2)");
  for (const auto& l : m.layers)
    std::printf("  L%d %.3f %.3f", l.layer + 1, l.nfa_corr, l.nfa_corr_sqrt);
  std::printf(" | %.1f s\n", m.seconds);
  std::fflush(stdout);
}

void print_table(const mlp::Measurement& m) {
  std::printf("\nfinal measurement (epoch %d): train loss %.4e acc %.4f, test loss %.4e acc %.4f\n",
              m.epoch, m.eval.train_loss, m.eval.train_accuracy, m.eval.test_loss,
              m.eval.test_accuracy);
  std::printf("%-5s %11s %11s %11s %9s %9s | %11s %11s %11s | %9s %9s\n", "layer", "NC1(H)",
              "NC1(SV'H)", "NC1(ReLU)", "x SV'", "x ReLU", "NC2(H)", "NC2(SV'H)", "NC2(ReLU)",
              "NFA corr", "NFA sqrt");
  for (const auto& l : m.layers) {
    const auto& c = l.collapse;
    std::printf("%-5d %11.4e %11.4e %11.4e %9.3f %9.3f | %11.4e %11.4e %11.4e | %9.4f %9.4f\n",
                l.layer + 1, c.input.nc1, c.projected.nc1, c.mapped.nc1,
                c.projected.nc1 / c.input.nc1, c.mapped.nc1 / c.projected.nc1,
                c.input.nc2_etf, c.projected.nc2_etf, c.mapped.nc2_etf, l.nfa_corr,
                l.nfa_corr_sqrt);
  }
  std::printf("x SV' = NC1(Sigma V^T H) / NC1(H), x ReLU = NC1(ReLU(U Sigma V^T H)) / "
              "NC1(Sigma V^T H): the factors by which each stage changes NC1\n");
  std::fflush(stdout);
}

int run(const app::MlpRunOptions& opt, const mpi::Communicator& world) {
  const double start = wall_seconds();
  const bool root = world.rank() == 0;
  const bool talk = root && !opt.quiet;
  la::set_blas_threads(opt.blas_threads);
  grid::ProcessGrid grid(world, grid::most_square_shape(world.size()));
  const la::BlasInfo blas = la::blas_info();
  if (talk) {
    std::printf("deeprfm-mlp %s (%s): %d MPI ranks (data-parallel), %s kernels '%s', %d BLAS "
                "thread(s) per rank\n",
                kVersion, kGitRevision, world.size(), blas.library.c_str(), blas.kernels.c_str(),
                blas.threads);
    if (!blas.advice.empty()) std::printf("note: %s\n", blas.advice.c_str());
    std::fflush(stdout);
  }

  // Create the output first: a bad path or an existing file fails before any work.
  mlp::ResultsWriter writer(opt.output, opt.overwrite, world);
  data::TrainTest data = data::load_train_test(opt.data, grid, opt.block);
  const auto& cfg = opt.model;
  mlp::Trainer trainer(cfg, data);
  const int n = data.train.n(), d = data.train.dim(), classes = data.train.classes;
  if (talk) {
    std::printf("data: %s\n      n = %d training points, %d test points, d = %d, C = %d\n",
                data.description.c_str(), n, data.test.n(), d, classes);
    std::printf("model: %d hidden layers of width %d, %zu parameters, init gain %g, %s lr %g, "
                "batch %d, %d epochs, measurements every %d epochs, seed %llu\n",
                cfg.hidden_layers, cfg.hidden_width, trainer.network().parameter_count(),
                cfg.init_gain, mlp::to_string(cfg.optimizer).c_str(), cfg.lr, cfg.batch_size,
                cfg.epochs, cfg.measure_every, static_cast<unsigned long long>(cfg.seed));
    std::fflush(stdout);
  }
  writer.write_run_info(opt.command_line, opt.effective, world.size(), blas.library, blas.threads,
                        static_cast<std::int64_t>(trainer.network().parameter_count()));
  writer.write_data(data);
  data.train.x.reset();  // the trainer holds its own row-sharded copy
  data.test.x.reset();

  std::vector<mlp::Measurement> measurements;
  std::vector<mlp::EpochRecord> epochs;
  auto record_measurement = [&](int epoch) {
    mlp::Measurement m = trainer.measure(epoch);
    const bool agops = opt.save_agops == "all" || (opt.save_agops == "last" && epoch == cfg.epochs);
    writer.write_measurement(m, agops);
    if (talk) print_measurement(m);
    for (auto& l : m.layers) l.agop = {};  // written; keep only the numbers
    measurements.push_back(std::move(m));
  };
  record_measurement(0);
  double train_seconds = 0;
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    const bool measure =
        epoch == cfg.epochs || (cfg.measure_every > 0 && epoch % cfg.measure_every == 0);
    const bool evaluate = !measure && cfg.eval_every > 0 && epoch % cfg.eval_every == 0;
    mlp::EpochRecord record = trainer.train_epoch(epoch, evaluate);
    train_seconds += record.seconds;
    if (measure) {
      record_measurement(epoch);
      record.evaluated = true;
      record.eval = measurements.back().eval;
    }
    epochs.push_back(record);
  }
  writer.write_epochs(epochs);
  writer.write_metrics(measurements);
  if (opt.save_weights) writer.write_weights(trainer.network());
  double wall = wall_seconds() - start;
  world.broadcast(&wall, 1, 0);
  writer.finish(wall);
  if (root) {
    print_table(measurements.back());
    double measure_seconds = 0;
    for (const auto& m : measurements) measure_seconds += m.seconds;
    std::printf("time: %.1f s wall (training %.1f s, %d measurements %.1f s)\nresults: %s\n",
                wall, train_seconds, static_cast<int>(measurements.size()), measure_seconds,
                writer.path().c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  deeprfm::mpi::Environment env(&argc, &argv);
  auto world = deeprfm::mpi::Communicator::world();
  try {
    deeprfm::app::MlpParseResult parsed;
    // Parsing does no communication and gives the same answer on every rank.
    deeprfm::mpi::run_agreed(world,
                             [&] { parsed = deeprfm::app::parse_mlp_command_line(argc, argv); });
    if (!parsed.run) {
      if (world.rank() == 0) std::cout << parsed.text;
      return parsed.exit_code;
    }
    return run(parsed.options, world);
  } catch (const deeprfm::Error& e) {
    if (e.agreed()) {
      if (world.rank() == 0) std::fprintf(stderr, "deeprfm-mlp: error: %s\n", e.what());
      return static_cast<int>(e.kind());
    }
    std::fprintf(stderr, "deeprfm-mlp: error on rank %d: %s\n", world.rank(), e.what());
    deeprfm::mpi::Environment::abort(static_cast<int>(e.kind()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deeprfm-mlp: internal error on rank %d: %s\n", world.rank(), e.what());
    deeprfm::mpi::Environment::abort(static_cast<int>(deeprfm::ErrorKind::internal));
  }
}
