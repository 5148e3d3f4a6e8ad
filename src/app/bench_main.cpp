// deeprfm-bench: how fast is a Deep RFM layer compared with what this machine's BLAS can do?
// On the same ranks and grid it first measures the PBLAS DGEMM (and SGEMM) rate, then runs one
// layer on synthetic data and reports every phase as seconds, GFLOP/s and the ratio to the
// DGEMM rate measured in the same run (the machine is shared and noisy: only ratios measured
// together mean something). See docs/performance.md.
#include <algorithm>
#include <type_traits>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include <deeprfm/base/error.hpp>
#include <deeprfm/runtime/run_control.hpp>
#include <deeprfm/mpi/timer.hpp>
#include <deeprfm/data/dataset.hpp>
#include <deeprfm/la/blas_info.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/mpi/environment.hpp>
#include <deeprfm/rfm/deep_rfm.hpp>
#include <deeprfm/version.hpp>

#include "guarded_main.hpp"
#include "option_text.hpp"

namespace po = boost::program_options;
using namespace deeprfm;

namespace {

/// Best-of-`repeats` rate (GFLOP/s) of an m x m x k PBLAS product on the grid. Collective.
template <class T>
double pblas_gemm_rate(const la::ProcessGrid& grid, int m, int k, int block, int repeats) {
  la::DistMatrix<T> a(grid, m, k, block), b(grid, k, m, block), c(grid, m, m, block);
  a.for_each_local([](int i, int j, T& v) { v = static_cast<T>(std::sin(0.001 * i + 0.002 * j)); });
  b.for_each_local([](int i, int j, T& v) { v = static_cast<T>(std::cos(0.003 * i - 0.001 * j)); });
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    grid.full().barrier();
    const double t0 = wall_seconds();
    la::scalapack::gemm('N', 'N', T(1), a, b, T(0), c);
    grid.full().barrier();
    best = std::min(best, grid.full().max(wall_seconds() - t0));
  }
  return 2.0 * m * double(m) * k / best * 1e-9;
}

/// Aggregate rate (GFLOP/s summed over ranks) of a local m x m x k DGEMM/SGEMM run by every
/// rank at the same time: what the machine's cores deliver to this job. Collective.
template <class T>
double local_gemm_rate(const mpi::Communicator& comm, int m, int k, int repeats) {
  std::vector<T> a(static_cast<std::size_t>(m) * k), b(static_cast<std::size_t>(k) * m),
      c(static_cast<std::size_t>(m) * m);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<T>(std::sin(0.001 * i));
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<T>(std::cos(0.002 * i));
  const char nt = 'N';
  const T one = 1, zero = 0;
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    comm.barrier();
    const double t0 = wall_seconds();
    if constexpr (std::is_same_v<T, double>)
      dgemm_(&nt, &nt, &m, &m, &k, &one, a.data(), &m, b.data(), &k, &zero, c.data(), &m);
    else
      sgemm_(&nt, &nt, &m, &m, &k, &one, a.data(), &m, b.data(), &k, &zero, c.data(), &m);
    best = std::min(best, comm.max(wall_seconds() - t0));
  }
  return comm.size() * 2.0 * m * double(m) * k / best * 1e-9;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  mpi::Environment env(&argc, &argv);
  auto world = mpi::Communicator::world();
  app::MainContext context;
  context.program = "deeprfm-bench";
  context.out_of_memory_advice = "use more ranks or a smaller --n";
  return app::guarded_main(world, context, [&] {
    int n = 4000, dim = 784, width = 512, classes = 10, block = la::kDefaultBlockSize;
    int gemm_size = 0, repeats = 3, blas_threads = 0, layer_index = 0, pblas_block = 0;
    std::string grid_text, json, kernel = "laplace";
    double ridge = 0.0;
    std::string precision = "double";
    po::options_description desc(
        "deeprfm-bench: DGEMM/SGEMM rates, then one Deep RFM layer phase by phase\n\n"
        "Usage: mpirun -n P deeprfm-bench [options]\n\nOptions");
    desc.add_options()("help,h", "print this help")("n", po::value<int>(&n)->default_value(4000),
                                                    "training points")(
        "dim", po::value<int>(&dim)->default_value(784), "input dimension d")(
        "width", po::value<int>(&width)->default_value(512), "random-feature width D")(
        "classes", po::value<int>(&classes)->default_value(10), "classes C")(
        "kernel", po::value<std::string>(&kernel)->default_value("laplace"), "laplace | gaussian")(
        "ridge", po::value<double>(&ridge)->default_value(0.0), "ridge mu")(
        "precision", po::value<std::string>(&precision)->default_value("double"), "double | mixed")(
        "layer", po::value<int>(&layer_index)->default_value(0), "layer index (seeds W_l)")(
        "grid", po::value<std::string>(&grid_text)->default_value(""), "process grid PrxPc")(
        "block-size", po::value<int>(&block)->default_value(la::kDefaultBlockSize), "block size")(
        "blas-threads", po::value<int>(&blas_threads)->default_value(0), "BLAS threads per rank")(
        "pblas-block", po::value<int>(&pblas_block)->default_value(0),
        "PBLAS logical block (PILAENV; 0 = smallest multiple of --block-size >= 512)")(
        "gemm-size", po::value<int>(&gemm_size)->default_value(0),
        "m = n of the reference GEMM (default: min(n, 8192)); k = d")(
        "repeats", po::value<int>(&repeats)->default_value(3), "GEMM repetitions (best is kept)")(
        "json", po::value<std::string>(&json)->default_value(""), "write the results as JSON here");
    context.flag_for = app::flag_lookup(desc);
    po::variables_map vm;
    mpi::run_agreed(world, [&] {
      try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
      } catch (const po::error& e) {
        DEEPRFM_THROW(input, e.what());
      }
      // Every rank sees the same command line: the verdict is the same everywhere.
      DEEPRFM_CHECK(n >= 1, input, "--n must be >= 1, got " << n);
      DEEPRFM_CHECK(dim >= 1, input, "--dim must be >= 1, got " << dim);
      DEEPRFM_CHECK(width >= 1, input, "--width must be >= 1, got " << width);
      DEEPRFM_CHECK(classes >= 2 && classes <= n, input,
                    "--classes must be between 2 and --n (" << n << "), got " << classes);
      DEEPRFM_CHECK(block >= 1, input, "--block-size must be >= 1, got " << block);
      DEEPRFM_CHECK(blas_threads >= 0, input, "--blas-threads must be >= 0, got " << blas_threads);
      DEEPRFM_CHECK(pblas_block >= 0, input, "--pblas-block must be >= 0, got " << pblas_block);
      DEEPRFM_CHECK(gemm_size >= 0, input, "--gemm-size must be >= 0, got " << gemm_size);
      DEEPRFM_CHECK(repeats >= 1, input, "--repeats must be >= 1, got " << repeats);
      DEEPRFM_CHECK(layer_index >= 0, input, "--layer must be >= 0, got " << layer_index);
      DEEPRFM_CHECK(ridge >= 0.0 && std::isfinite(ridge), input,
                    "--ridge must be a finite number >= 0, got " << ridge);
      DEEPRFM_CHECK(precision == "double" || precision == "mixed", input,
                    "--precision '" << precision << "' is not one of: double, mixed");
      model::parse_kernel_kind(kernel);
    });
    if (vm.count("help")) {
      if (world.rank() == 0) std::cout << desc;
      return 0;
    }
    la::set_blas_threads(blas_threads);
    la::set_pblas_logical_block(pblas_block > 0 ? pblas_block
                                                : la::default_pblas_logical_block(block));
    la::GridShape shape;
    mpi::run_agreed(world, [&] {
      shape =
          grid_text.empty() ? la::most_square_shape(world.size()) : la::parse_grid_shape(grid_text);
      DEEPRFM_CHECK(shape.rows * shape.cols == world.size(), input,
                    "--grid does not match the ranks");
    });
    la::ProcessGrid grid(world, shape);
    const la::BlasInfo blas = la::blas_info();
    const bool root = world.rank() == 0;
    if (root) {
      std::printf(
          "deeprfm-bench %s (%s): %d ranks, grid %s, block %d (PBLAS %d), %s '%s', %d "
          "thread(s)/rank\n",
          kVersion, kGitRevision, world.size(), shape.str().c_str(), block,
          la::pblas_logical_block(), blas.library.c_str(), blas.kernels.c_str(), blas.threads);
      if (!blas.advice.empty()) std::printf("note: %s\n", blas.advice.c_str());
      std::fflush(stdout);
    }

    // 1. The machine: every rank's DGEMM at once (the reference of every ratio), and PBLAS
    //    pdgemm at the kernel's shape (m x m x d) on the same grid, for information.
    const int gm = gemm_size > 0 ? gemm_size : std::min(n, 8192);
    const int lm = std::max(512, std::min(4096, gm / std::max(1, shape.cols)));
    const double dgemm = local_gemm_rate<double>(world, lm, dim, repeats);
    const double sgemm = local_gemm_rate<float>(world, lm, dim, repeats);
    const double pdgemm = pblas_gemm_rate<double>(grid, gm, dim, block, repeats);
    if (root) {
      std::printf(
          "DGEMM (every rank, %d x %d x %d): %.1f GFLOP/s   SGEMM: %.1f GFLOP/s   "
          "pdgemm (%d x %d x %d): %.1f GFLOP/s\n",
          lm, lm, dim, dgemm, sgemm, gm, gm, dim, pdgemm);
      std::fflush(stdout);
    }

    // 2. One layer on synthetic data (no test set).
    data::DataOptions data_options;
    data_options.kind = "synthetic";
    data_options.n = n;
    data_options.n_test = -1;
    data_options.dim = dim;
    data_options.classes = classes;
    data_options.separation = 0.5;
    auto data = data::load_train_test(data_options, grid, block);
    rfm::ModelConfig model;
    model.kernel.kind = model::parse_kernel_kind(kernel);
    model.ridge = ridge;
    model.mixed_precision = precision == "mixed";
    model.width = width;
    model.block = block;
    model.layers = 1;
    const double baseline = world.max(current_rss_bytes());
    const double estimate =
        baseline + rfm::estimate_memory_per_rank(n, dim, width, classes, 0, shape.rows, shape.cols,
                                                 model.mixed_precision);
    rfm::DeepRfm deep(model, grid);
    world.barrier();
    const double t0 = wall_seconds();
    const rfm::LayerResult layer = deep.run_layer(layer_index, data.train.x, data.train.labels,
                                                  classes, data.test.x, data.test.labels);
    const double layer_seconds = world.max(wall_seconds() - t0);
    const double rss = world.max(peak_rss_bytes());

    double flops = 0;
    for (const auto& name : layer.timers.order()) flops += layer.timers.at(name).flops;
    const double ideal = flops / (dgemm * 1e9);
    const double layer_ratio = layer_seconds / ideal;
    if (root) {
      std::printf(
          "\nlayer: n = %d, d = %d, D = %d, C = %d: %.2f s for %.3g flops; at the DGEMM "
          "rate it would take %.2f s: layer_ratio %.2f\n",
          n, dim, width, classes, layer_seconds, flops, ideal, layer_ratio);
      std::printf("%-14s %9s %10s %9s %12s %12s\n", "phase", "seconds", "GFLOP/s", "of DGEMM",
                  "MB sent", "MB off-node");
      for (const auto& name : layer.timers.order()) {
        const auto& r = layer.timers.at(name);
        const double gf = r.seconds > 0 ? r.flops / r.seconds * 1e-9 : 0.0;
        std::printf("%-14s %9.3f %10.1f %8.0f%% %12.3g %12.3g\n", name.c_str(), r.seconds, gf,
                    100.0 * gf / dgemm, r.bytes * 1e-6, r.off_node_bytes * 1e-6);
      }
      std::printf("memory: estimate %.1f MiB per rank, peak RSS %.1f MiB (x%.2f)\n",
                  estimate / (1 << 20), rss / (1 << 20), rss / estimate);
      std::printf("residual %.2e, rcond %.2e\n", layer.residual, layer.rcond);
      if (la::pblas_logical_block_queries() == 0)
        std::printf("note: ScaLAPACK never asked for PILAENV: --pblas-block had no effect\n");
      if (!json.empty()) {
        std::ofstream out(json);
        out << "{\n  \"version\": \"" << kVersion << "\", \"git_revision\": \"" << kGitRevision
            << "\",\n  \"ranks\": " << world.size() << ", \"grid\": \"" << shape.str()
            << "\", \"block_size\": " << block << ", \"pblas_block\": " << la::pblas_logical_block()
            << ", \"pilaenv_queries\": " << la::pblas_logical_block_queries()
            << ",\n  \"blas_kernels\": \"" << json_escape(blas.kernels)
            << "\", \"blas_threads\": " << blas.threads << ",\n  \"n\": " << n
            << ", \"dim\": " << dim << ", \"width\": " << width << ", \"classes\": " << classes
            << ", \"precision\": \"" << precision << "\""
            << ",\n  \"dgemm_gflops\": " << dgemm << ", \"sgemm_gflops\": " << sgemm
            << ", \"pdgemm_gflops\": " << pdgemm << ",\n  \"layer_seconds\": " << layer_seconds
            << ", \"layer_flops\": " << flops << ", \"layer_ratio\": " << layer_ratio
            << ",\n  \"memory_estimate_bytes\": " << estimate << ", \"peak_rss_bytes\": " << rss
            << ",\n  \"phases\": {";
        bool first = true;
        for (const auto& name : layer.timers.order()) {
          const auto& r = layer.timers.at(name);
          const double gf = r.seconds > 0 ? r.flops / r.seconds * 1e-9 : 0.0;
          out << (first ? "\n" : ",\n") << "    \"" << name << "\": {\"seconds\": " << r.seconds
              << ", \"flops\": " << r.flops << ", \"gflops\": " << gf
              << ", \"ratio\": " << gf / dgemm << ", \"bytes\": " << r.bytes
              << ", \"off_node_bytes\": " << r.off_node_bytes << "}";
          first = false;
        }
        out << "\n  }\n}\n";
        std::printf("json: %s\n", json.c_str());
      }
    }
    return 0;
  });
}
