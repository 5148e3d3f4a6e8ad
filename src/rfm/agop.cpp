#include <deeprfm/rfm/agop.hpp>

#include <deeprfm/core/error.hpp>
#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::rfm {

double agop_flops(double n, double d, double classes) {
  // W B (2 n^2 d) and the rank-n update J^T J (n d^2, syrk) per class; W A (2 n^2 C) once.
  return classes * (2.0 * n * n * d + n * d * d) + 2.0 * n * n * classes;
}

std::vector<double> agop(const kernels::Kernel& kernel, const la::DistMatrix<double>& w,
                         const la::DistMatrix<double>& x, const la::DistMatrix<double>& a) {
  const int n = x.rows(), d = x.cols(), classes = a.cols();
  DEEPRFM_ASSERT(w.rows() == n && w.cols() == n && a.rows() == n);
  const auto& grid = x.grid();
  const int block = x.dist().rows().block();

  // W A (n x C), replicated together with A: both are n x C, small.
  la::DistMatrix<double> wa(grid, n, classes, block);
  la::scalapack::gemm('N', 'N', 1.0, w, a, 0.0, wa);
  const std::vector<double> a_full = la::replicate(a);
  const std::vector<double> wa_full = la::replicate(wa);

  la::DistMatrix<double> scaled(grid, n, d, block);  // diag(a_c) X
  la::DistMatrix<double> jac(grid, n, d, block);     // J^(c) / t
  la::DistMatrix<double> g(grid, d, d, block);       // sum_c J^T J (lower triangle)
  const int lr = x.local_rows(), lc = x.local_cols();
  for (int c = 0; c < classes; ++c) {
    for (int lj = 0; lj < lc; ++lj)
      for (int li = 0; li < lr; ++li)
        scaled.local(li, lj) =
            a_full[static_cast<std::size_t>(x.global_row(li)) * classes + c] * x.local(li, lj);
    la::scalapack::gemm('N', 'N', 1.0, w, scaled, 0.0, jac);
    for (int lj = 0; lj < lc; ++lj)
      for (int li = 0; li < lr; ++li)
        jac.local(li, lj) -=
            wa_full[static_cast<std::size_t>(x.global_row(li)) * classes + c] * x.local(li, lj);
    la::scalapack::syrk('L', 'T', 1.0, jac, 1.0, g);
  }

  // Each rank holds its blocks of the lower triangle; one allreduce assembles G everywhere.
  const double t = kernel.gradient_scale();
  const double scale = n > 0 ? t * t / n : 0.0;
  std::vector<double> full(static_cast<std::size_t>(d) * d, 0.0);
  g.for_each_local([&](int gi, int gj, const double& v) {
    if (gi >= gj) full[static_cast<std::size_t>(gi) * d + gj] = scale * v;
  });
  grid.full().sum_in_place(full.data(), full.size());
  for (int i = 0; i < d; ++i)
    for (int j = i + 1; j < d; ++j)
      full[static_cast<std::size_t>(i) * d + j] = full[static_cast<std::size_t>(j) * d + i];
  return full;
}

}  // namespace deeprfm::rfm
