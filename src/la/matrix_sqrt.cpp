#include <deeprfm/la/matrix_sqrt.hpp>

#include <algorithm>
#include <cmath>

#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::la {

MatrixSqrt symmetric_sqrt(const std::vector<double>& g, int d, const mpi::Communicator& comm) {
  DEEPRFM_ASSERT(g.size() == static_cast<std::size_t>(d) * d);
  MatrixSqrt out;
  out.sqrt.assign(g.size(), 0.0);
  out.eigenvalues.assign(static_cast<std::size_t>(d), 0.0);
  mpi::run_agreed(comm, [&] {
    if (comm.rank() != 0 || d == 0) return;
    std::vector<double> v = g;  // row-major symmetric == column-major symmetric
    const char jobz = 'V', uplo = 'L';
    int info = 0, lwork = -1, liwork = -1, iwq = 0;
    double wq = 0;
    dsyevd_(&jobz, &uplo, &d, v.data(), &d, out.eigenvalues.data(), &wq, &lwork, &iwq, &liwork,
            &info);
    lwork = static_cast<int>(wq) + 1;
    liwork = iwq + 1;
    std::vector<double> work(static_cast<std::size_t>(lwork));
    std::vector<int> iwork(static_cast<std::size_t>(liwork));
    dsyevd_(&jobz, &uplo, &d, v.data(), &d, out.eigenvalues.data(), work.data(), &lwork,
            iwork.data(), &liwork, &info);
    DEEPRFM_CHECK(info == 0, numerical,
                  "the eigendecomposition of the AGOP failed (dsyevd info "
                      << info << "); the AGOP has non-finite entries?");
    // S = V diag(sqrt(max(l, 0))) V^T: scale the columns of V by lambda^{1/4}, then V V^T.
    for (int k = 0; k < d; ++k) {
      const double l = out.eigenvalues[static_cast<std::size_t>(k)];
      if (l < 0) ++out.clipped;
      const double f = std::sqrt(std::sqrt(std::max(l, 0.0)));
      double* col = &v[static_cast<std::size_t>(k) * d];
      for (int i = 0; i < d; ++i) col[i] *= f;
    }
    const char uplo_l = 'L', trans = 'N';
    const double one = 1.0, zero = 0.0;
    dsyrk_(&uplo_l, &trans, &d, &d, &one, v.data(), &d, &zero, out.sqrt.data(), &d);
    for (int j = 0; j < d; ++j)
      for (int i = j + 1; i < d; ++i)
        out.sqrt[static_cast<std::size_t>(i) * d + j] =
            out.sqrt[static_cast<std::size_t>(j) * d + i];
  });
  comm.broadcast(out.sqrt.data(), out.sqrt.size(), 0);
  comm.broadcast(out.eigenvalues.data(), out.eigenvalues.size(), 0);
  double clipped = out.clipped;
  comm.broadcast(&clipped, 1, 0);
  out.clipped = static_cast<int>(clipped);
  return out;
}

}  // namespace deeprfm::la
