#include <deeprfm/mlp/measurements.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include <deeprfm/base/error.hpp>
#include <deeprfm/la/scalapack.hpp>

extern "C" {
void dgesdd_(const char* jobz, const int* m, const int* n, double* a, const int* lda, double* s,
             double* u, const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork,
             int* iwork, int* info);
}

namespace deeprfm::mlp {

RightSingularStructure right_singular_structure(const std::vector<double>& w, int rows, int cols,
                                                const mpi::Communicator& comm) {
  DEEPRFM_ASSERT(w.size() == static_cast<std::size_t>(rows) * cols);
  RightSingularStructure out;
  out.k = std::min(rows, cols);
  out.singular_values.assign(static_cast<std::size_t>(out.k), 0.0);
  out.sigma_vt.assign(static_cast<std::size_t>(out.k) * cols, 0.0);
  mpi::run_agreed(comm, [&] {
    if (comm.rank() != 0 || out.k == 0) return;
    // The row-major rows x cols W is the column-major cols x rows A = W^T = V Sigma U^T, so
    // dgesdd's left singular vectors of A are the right singular vectors V of W.
    std::vector<double> a = w;
    const int m = cols, n = rows, k = out.k;
    std::vector<double> u(static_cast<std::size_t>(m) * k), vt(static_cast<std::size_t>(k) * n);
    std::vector<int> iwork(static_cast<std::size_t>(8) * k);
    const char jobz = 'S';
    int info = 0, lwork = -1;
    double query = 0;
    dgesdd_(&jobz, &m, &n, a.data(), &m, out.singular_values.data(), u.data(), &m, vt.data(), &k,
            &query, &lwork, iwork.data(), &info);
    lwork = static_cast<int>(query) + 1;
    std::vector<double> work(static_cast<std::size_t>(lwork));
    dgesdd_(&jobz, &m, &n, a.data(), &m, out.singular_values.data(), u.data(), &m, vt.data(), &k,
            work.data(), &lwork, iwork.data(), &info);
    DEEPRFM_CHECK(info == 0, numerical,
                  "the SVD of a " << rows << " x " << cols << " weight matrix failed (dgesdd info "
                                  << info << "); non-finite weights?");
    for (int i = 0; i < k; ++i) {
      const double s = out.singular_values[static_cast<std::size_t>(i)];
      for (int j = 0; j < cols; ++j)
        out.sigma_vt[static_cast<std::size_t>(i) * cols + j] =
            s * u[static_cast<std::size_t>(i) * m + j];
    }
  });
  comm.broadcast(out.singular_values.data(), out.singular_values.size(), 0);
  comm.broadcast(out.sigma_vt.data(), out.sigma_vt.size(), 0);
  return out;
}

void multiply_rows_local(const la::DistMatrix<double>& h, const double* m, int rows, int cols,
                         bool relu, la::DistMatrix<double>& out) {
  DEEPRFM_ASSERT(h.cols() == cols && h.local_cols() == cols);
  DEEPRFM_ASSERT(out.cols() == rows && out.local_cols() == rows);
  DEEPRFM_ASSERT(out.local_rows() == h.local_rows());
  int lr = h.local_rows();
  if (lr == 0 || rows == 0) return;
  if (cols == 0) {
    out.fill(0.0);
    return;
  }
  const char n = 'N';
  const double one = 1.0, zero = 0.0;
  int ldh = h.ld(), ldo = out.ld();
  dgemm_(&n, &n, &lr, &rows, &cols, &one, h.data(), &ldh, m, &cols, &zero, out.data(), &ldo);
  if (relu) {
    double* o = out.data();
    for (int j = 0; j < rows; ++j)
      for (int i = 0; i < lr; ++i) {
        double& v = o[static_cast<std::size_t>(j) * ldo + i];
        v = v > 0 ? v : 0.0;
      }
  }
}

LayerCollapse layer_collapse(const la::DistMatrix<double>& h, const std::vector<double>& w,
                             int rows, int cols, const std::vector<int>& labels, int classes,
                             const la::DistMatrix<double>* mapped) {
  const mpi::Communicator& comm = h.grid().full();
  DEEPRFM_ASSERT(h.cols() == cols && h.grid().cols() == 1);
  LayerCollapse out;
  const RightSingularStructure svd = right_singular_structure(w, rows, cols, comm);
  out.singular_values = svd.singular_values;
  const int row_block = h.dist().rows().block();
  out.input = model::neural_collapse(h, labels, classes);
  {
    la::DistMatrix<double> projected(h.grid(), h.rows(), svd.k, row_block, std::max(svd.k, 1));
    multiply_rows_local(h, svd.sigma_vt.data(), svd.k, cols, false, projected);
    out.projected = model::neural_collapse(projected, labels, classes);
  }
  if (mapped != nullptr) {
    out.mapped = model::neural_collapse(*mapped, labels, classes);
  } else {
    la::DistMatrix<double> next(h.grid(), h.rows(), rows, row_block, std::max(rows, 1));
    multiply_rows_local(h, w.data(), rows, cols, true, next);
    out.mapped = model::neural_collapse(next, labels, classes);
  }
  return out;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  DEEPRFM_ASSERT(a.size() == b.size());
  const std::size_t n = a.size();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= static_cast<double>(n);
  mb /= static_cast<double>(n);
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = a[i] - ma, y = b[i] - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  if (saa == 0 || sbb == 0) return std::numeric_limits<double>::quiet_NaN();
  return sab / std::sqrt(saa * sbb);
}

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  DEEPRFM_ASSERT(a.size() == b.size());
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += a[i] * b[i];
    saa += a[i] * a[i];
    sbb += b[i] * b[i];
  }
  if (saa == 0 || sbb == 0) return std::numeric_limits<double>::quiet_NaN();
  return sab / std::sqrt(saa * sbb);
}

}  // namespace deeprfm::mlp
