// deeprfm: distributed Deep Recursive Feature Machines. See README.md and docs/.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <deeprfm/core/error.hpp>
#include <deeprfm/data/dataset.hpp>
#include <deeprfm/grid/process_grid.hpp>
#include <deeprfm/io/results_writer.hpp>
#include <deeprfm/la/blas_info.hpp>
#include <deeprfm/mpi/environment.hpp>
#include <deeprfm/rfm/deep_rfm.hpp>
#include <deeprfm/version.hpp>

#include "cli.hpp"

namespace {

using namespace deeprfm;

void print_layer(const rfm::LayerResult& l) {
  double seconds = 0;
  for (const auto& name : l.timers.order()) seconds += l.timers.at(name).seconds;
  std::printf(
      "layer %3d  d=%-5d NC1 X %.3e  XS %.3e  ReLU %.3e | NC2 X %.3e  XS %.3e  ReLU %.3e | "
      "acc train %.4f test %.4f | res %.1e rcond %.1e | %.1f s\n",
      l.layer + 1, l.dim_in, l.input.nc1, l.projected.nc1, l.mapped.nc1, l.input.nc2_etf,
      l.projected.nc2_etf, l.mapped.nc2_etf, l.train_accuracy, l.test_accuracy, l.residual,
      l.rcond, seconds);
  std::fflush(stdout);
}

// One line per layer: seconds (max over ranks), GF/s of the whole problem, and the MB that
// rank 0 sent through MPI during the phase (the file stores the sum and maximum over ranks).
void print_phases(const rfm::LayerResult& l) {
  std::printf("          phases:");
  for (const auto& name : l.timers.order()) {
    const auto& r = l.timers.at(name);
    std::printf(" %s %.2fs", name.c_str(), r.seconds);
    const bool rate = r.flops > 0 && r.seconds > 0, sent = r.bytes > 0;
    if (rate || sent) {
      std::printf(" (");
      if (rate) std::printf("%.1f GF/s", r.flops / r.seconds * 1e-9);
      if (sent) std::printf("%s%.3g MB", rate ? ", " : "", r.bytes * 1e-6);
      std::printf(")");
    }
  }
  std::printf("\n");
  std::fflush(stdout);
}

void print_table(const std::vector<rfm::LayerResult>& layers) {
  std::printf("\n%-5s %11s %11s %11s | %11s %11s %11s | %11s %11s | %8s %8s | %8s\n", "layer",
              "NC1(X)", "NC1(XS)", "NC1(ReLU)", "NC2(X)", "NC2(XS)", "NC2(ReLU)",
              "NC1pinv(X)", "NC1pinv(XS)", "train", "test", "seconds");
  for (const auto& l : layers) {
    double seconds = 0;
    for (const auto& name : l.timers.order()) seconds += l.timers.at(name).seconds;
    std::printf("%-5d %11.4e %11.4e %11.4e | %11.4e %11.4e %11.4e | %11.4e %11.4e | %8.4f %8.4f | %8.2f\n",
                l.layer + 1, l.input.nc1, l.projected.nc1, l.mapped.nc1, l.input.nc2_etf,
                l.projected.nc2_etf, l.mapped.nc2_etf, l.input.nc1_pinv, l.projected.nc1_pinv,
                l.train_accuracy, l.test_accuracy, seconds);
  }
  if (layers.size() >= 2) {
    const double first = layers.front().input.nc1, last = layers.back().mapped.nc1;
    std::printf("NC1 from layer 1 input to layer %zu output: %.4e -> %.4e (x%.3g)\n",
                layers.size(), first, last, last / first);
  }
  std::fflush(stdout);
}

int run(const app::RunOptions& opt, const mpi::Communicator& world) {
  const bool root = world.rank() == 0;
  const bool talk = root && !opt.quiet;
  la::set_blas_threads(opt.blas_threads);

  grid::GridShape shape;
  mpi::run_agreed(world, [&] {
    shape = opt.grid.empty() ? grid::most_square_shape(world.size())
                             : grid::parse_grid_shape(opt.grid);
    DEEPRFM_CHECK(shape.rows * shape.cols == world.size(), input,
                  "--grid " << shape.str() << " has " << shape.rows * shape.cols
                            << " processes but the job has " << world.size() << " MPI ranks");
  });
  grid::ProcessGrid grid(world, shape);
  const la::BlasInfo blas = la::blas_info();
  if (talk) {
    std::printf("deeprfm %s (%s): %d MPI ranks, grid %s, block %d, %s kernels '%s', %d BLAS "
                "thread(s) per rank\n",
                kVersion, kGitRevision, world.size(), shape.str().c_str(), opt.model.block,
                blas.library.c_str(), blas.kernels.c_str(), blas.threads);
    if (!blas.advice.empty()) std::printf("note: %s\n", blas.advice.c_str());
    std::fflush(stdout);
  }

  // Refuse a bad output path before any work, but create the file only once the data loaded,
  // so that a failed start leaves nothing behind that would block the next run.
  io::File::check_path(opt.output,
                       opt.overwrite ? io::File::Mode::create_truncate
                                     : io::File::Mode::create_exclusive,
                       world);
  data::TrainTest data = data::load_train_test(opt.data, grid, opt.model.block);
  io::ResultsWriter writer(opt.output, opt.overwrite, world);
  const int n = data.train.n(), d = data.train.dim(), classes = data.train.classes;
  const int n_test = data.test.n();
  const double estimate = rfm::estimate_memory_per_rank(n, d, opt.model.width, classes, n_test,
                                                        world.size());
  if (talk) {
    std::printf("data: %s\n      n = %d training points, %d test points, d = %d, C = %d\n",
                data.description.c_str(), n, n_test, d, classes);
    std::printf("memory: about %.1f MiB per rank at the peak (n^2/P alone: %.1f MiB)\n",
                estimate / (1 << 20), 8.0 * n * double(n) / world.size() / (1 << 20));
    std::printf("model: %d layers, %s kernel, bandwidth %g, ridge %g, width %d, %s features, "
                "seed %llu\n",
                opt.model.layers, kernels::to_string(opt.model.kernel.kind).c_str(),
                opt.model.kernel.bandwidth, opt.model.ridge, opt.model.width,
                rfm::to_string(opt.model.feature_init).c_str(),
                static_cast<unsigned long long>(opt.model.seed));
    std::fflush(stdout);
  }

  io::RunInfo info;
  info.command_line = opt.command_line;
  info.options = opt.effective;
  info.ranks = world.size();
  info.grid = shape;
  info.block = opt.model.block;
  info.blas_library = blas.library;
  info.blas_kernels = blas.kernels;
  info.blas_threads = blas.threads;
  info.memory_estimate_bytes = estimate;
  writer.write_run_info(info);
  writer.write_data(data);

  rfm::DeepRfm model(opt.model, grid);
  std::vector<rfm::LayerResult> layers;
  for (int l = 0; l < opt.model.layers; ++l) {
    layers.push_back(model.run_layer(l, data.train.x, data.train.labels, classes, data.test.x,
                                     data.test.labels));
    if (talk) {
      print_layer(layers.back());
      print_phases(layers.back());
    }
    const bool save = opt.save_features == "all" ||
                      (opt.save_features == "last" && l + 1 == opt.model.layers);
    writer.write_layer(layers.back(), save ? &data.train.x : nullptr);
  }
  writer.write_summary(layers);
  if (root) {
    print_table(layers);
    std::printf("results: %s\n", writer.path().c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  deeprfm::mpi::Environment env(&argc, &argv);
  auto world = deeprfm::mpi::Communicator::world();
  try {
    deeprfm::app::ParseResult parsed;
    // Parsing does no communication and gives the same answer on every rank.
    deeprfm::mpi::run_agreed(world, [&] { parsed = deeprfm::app::parse_command_line(argc, argv); });
    if (!parsed.run) {
      if (world.rank() == 0) std::cout << parsed.text;
      return parsed.exit_code;
    }
    return run(parsed.options, world);
  } catch (const deeprfm::Error& e) {
    if (e.agreed()) {
      // Every rank has the same error: rank 0 reports, all exit together.
      if (world.rank() == 0) std::fprintf(stderr, "deeprfm: error: %s\n", e.what());
      return static_cast<int>(e.kind());
    }
    std::fprintf(stderr, "deeprfm: error on rank %d: %s\n", world.rank(), e.what());
    deeprfm::mpi::Environment::abort(static_cast<int>(e.kind()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deeprfm: internal error on rank %d: %s\n", world.rank(), e.what());
    deeprfm::mpi::Environment::abort(static_cast<int>(deeprfm::ErrorKind::internal));
  }
}
