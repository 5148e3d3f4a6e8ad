#include <deeprfm/model/agop.hpp>

#include <algorithm>
#include <numeric>
#include <type_traits>

#include <deeprfm/mpi/communicator.hpp>
#include <deeprfm/base/error.hpp>
#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::model {

double agop_flops(double n, double d, double classes) {
  // W B (2 n^2 d) and the rank-n update J^T J (n d^2, syrk) per class; W A (2 n^2 C) once.
  return classes * (2.0 * n * n * d + n * d * d) + 2.0 * n * n * classes;
}

namespace {

/// Rows of x (all columns) that each rank asks for, delivered with one MPI_Alltoallv. `rows_of`
/// gives the global row list of any rank; every rank can compute every list, so no request
/// round is needed. Returns my rows, row-major rows_of(me).size() x x.cols(). Collective.
template <class RowsOf>
std::vector<double> fetch_rows(const la::DistMatrix<double>& x, RowsOf rows_of) {
  const auto& grid = x.grid();
  const auto& comm = grid.full();
  const int ranks = comm.size(), d = x.cols();
  const auto& rmap = x.dist().rows();
  const int lc = x.local_cols();
  std::vector<int> send_counts(ranks, 0), send_offsets(ranks, 0);
  std::vector<double> send;
  for (int s = 0; s < ranks; ++s) {
    send_offsets[s] = static_cast<int>(send.size());
    for (int r : rows_of(s)) {
      const la::GlobalIndex g(r);
      if (!rmap.is_mine(g)) continue;
      const int li = rmap.to_local(g).value;
      for (int lj = 0; lj < lc; ++lj) send.push_back(x.local(li, lj));
    }
    send_counts[s] = static_cast<int>(send.size()) - send_offsets[s];
  }
  // What I receive from rank t: for each of my rows that t's process row owns, t's columns.
  const std::vector<int> mine = rows_of(comm.rank());
  std::vector<int> recv_counts(ranks, 0), recv_offsets(ranks, 0);
  const auto& cmap = x.dist().cols();
  int total = 0;
  for (int t = 0; t < ranks; ++t) {
    const int tp = t / grid.cols(), tq = t % grid.cols();
    int rows_from_t = 0;
    for (int r : mine)
      if (rmap.owner(la::GlobalIndex(r)) == tp) ++rows_from_t;
    recv_offsets[t] = total;
    recv_counts[t] = rows_from_t * cmap.local_size_of(tq);
    total += recv_counts[t];
  }
  std::vector<double> recv(static_cast<std::size_t>(total));
  const int rc =
      MPI_Alltoallv(send.data(), send_counts.data(), send_offsets.data(), MPI_DOUBLE, recv.data(),
                    recv_counts.data(), recv_offsets.data(), MPI_DOUBLE, comm.get());
  mpi::check(rc, "MPI_Alltoallv (AGOP)");
  // Unpack into row-major |mine| x d.
  std::vector<double> out(mine.size() * static_cast<std::size_t>(d));
  for (int t = 0; t < ranks; ++t) {
    const int tp = t / grid.cols(), tq = t % grid.cols();
    const int cols_t = cmap.local_size_of(tq);
    const double* src = recv.data() + recv_offsets[t];
    for (std::size_t k = 0; k < mine.size(); ++k) {
      if (rmap.owner(la::GlobalIndex(mine[k])) != tp) continue;
      for (int lj = 0; lj < cols_t; ++lj)
        out[k * d + cmap.to_global_on(la::LocalIndex(lj), tq).value] = *src++;
    }
  }
  return out;
}

}  // namespace

namespace {
void local_gemm_nt(int m, int n, int k, const double* a, int lda, const double* b, int ldb,
                   double* c, int ldc) {
  const char nt = 'N', tr = 'T';
  const double one = 1.0, zero = 0.0;
  dgemm_(&nt, &tr, &m, &n, &k, &one, a, &lda, b, &ldb, &zero, c, &ldc);
}
void local_gemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float* c,
                   int ldc) {
  const char nt = 'N', tr = 'T';
  const float one = 1.0f, zero = 0.0f;
  sgemm_(&nt, &tr, &m, &n, &k, &one, a, &lda, b, &ldb, &zero, c, &ldc);
}
template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, double> ? MPI_DOUBLE : MPI_FLOAT;
}
/// W A (n x C) replicated, with W in T (float: A is rounded for the product). Collective.
std::vector<double> replicated_wa(const la::DistMatrix<double>& w,
                                  const la::DistMatrix<double>& a) {
  la::DistMatrix<double> wa(a.grid(), a.rows(), a.cols(), a.dist().rows().block());
  la::scalapack::gemm('N', 'N', 1.0, w, a, 0.0, wa);
  return la::replicate(wa);
}
std::vector<double> replicated_wa(const la::DistMatrix<float>& w, const la::DistMatrix<double>& a) {
  const int block = a.dist().rows().block();
  la::DistMatrix<float> af(a.grid(), a.rows(), a.cols(), block),
      waf(a.grid(), a.rows(), a.cols(), block);
  for (int lj = 0; lj < a.local_cols(); ++lj)
    for (int li = 0; li < a.local_rows(); ++li)
      af.local(li, lj) = static_cast<float>(a.local(li, lj));
  la::scalapack::gemm('N', 'N', 1.0f, w, af, 0.0f, waf);
  la::DistMatrix<double> wa(a.grid(), a.rows(), a.cols(), block);
  for (int lj = 0; lj < a.local_cols(); ++lj)
    for (int li = 0; li < a.local_rows(); ++li) wa.local(li, lj) = waf.local(li, lj);
  return la::replicate(wa);
}
}  // namespace

template <class T>
std::vector<double> agop(const model::Kernel& kernel, const la::DistMatrix<T>& w,
                         const la::DistMatrix<double>& x, const la::DistMatrix<double>& a) {
  const int n = x.rows(), d = x.cols(), classes = a.cols();
  DEEPRFM_ASSERT(w.rows() == n && w.cols() == n && a.rows() == n);
  DEEPRFM_ASSERT(w.dist().rows().block() == x.dist().rows().block());
  const auto& grid = x.grid();
  const auto& comm = grid.full();
  const int block = x.dist().rows().block();
  const int pc = grid.cols(), my_col = grid.my_col();

  // W A (n x C), replicated together with A: both are n x C, small.
  const std::vector<double> a_full = la::replicate(a);
  const std::vector<double> wa_full = replicated_wa(w, a);
  (void)block;

  // My block of W is W[I, J]: I = its local rows (shared by my process row), J = its local
  // columns. J^(c) rows I are sum over the process row of W[I, J] diag(a_c[J]) X[J, :]; the
  // process row reduce-scatters them so that I keep the rows R (a contiguous share of I, in
  // local order) with all d columns, and accumulate J_R^T J_R locally: each rank adds up its
  // part of sum_c J^T J, and one MPI_Allreduce combines them (docs/numerics.md §6).
  const auto& wrows = w.dist().rows();
  const auto& wcols = w.dist().cols();
  const int n_i = w.local_rows(), n_j = w.local_cols();
  auto local_rows_of = [&](int rank) {
    const int p = rank / pc;
    std::vector<int> rows(static_cast<std::size_t>(wrows.local_size_of(p)));
    for (std::size_t k = 0; k < rows.size(); ++k)
      rows[k] = wrows.to_global_on(la::LocalIndex(static_cast<int>(k)), p).value;
    return rows;
  };
  auto local_cols_of = [&](int rank) {
    const int q = rank % pc;
    std::vector<int> cols(static_cast<std::size_t>(wcols.local_size_of(q)));
    for (std::size_t k = 0; k < cols.size(); ++k)
      cols[k] = wcols.to_global_on(la::LocalIndex(static_cast<int>(k)), q).value;
    return cols;
  };
  // Shares of I among the process row: rows [first[q], first[q+1]) of I in local order.
  std::vector<int> first(pc + 1, 0);
  for (int q = 0; q < pc; ++q) first[q + 1] = first[q] + (n_i / pc + (q < n_i % pc ? 1 : 0));
  auto share_rows_of = [&](int rank) {
    const int q = rank % pc;
    const std::vector<int> all = local_rows_of(rank);
    const int p_rows = static_cast<int>(all.size());
    std::vector<int> f(pc + 1, 0);
    for (int k = 0; k < pc; ++k) f[k + 1] = f[k] + (p_rows / pc + (k < p_rows % pc ? 1 : 0));
    return std::vector<int>(all.begin() + f[q], all.begin() + f[q + 1]);
  };

  const std::vector<int> cols_j = local_cols_of(comm.rank());
  const std::vector<int> rows_r = share_rows_of(comm.rank());
  const std::vector<double> x_j = fetch_rows(x, local_cols_of);  // n_j x d, row-major
  const std::vector<double> x_r = fetch_rows(x, share_rows_of);  // |R| x d, row-major
  const int n_r = static_cast<int>(rows_r.size());

  std::vector<T> b(static_cast<std::size_t>(n_j) * d);                     // diag(a_c[J]) X[J, :]
  std::vector<T> partial(static_cast<std::size_t>(n_i) * d);               // (W[I,J] B)^T, d x n_i
  std::vector<T> jr_t(static_cast<std::size_t>(std::max(n_r, 0)) * d);     // J_R in T
  std::vector<double> jr(static_cast<std::size_t>(std::max(n_r, 0)) * d);  // J_R, row-major
  std::vector<double> g_local(static_cast<std::size_t>(d) * d, 0.0);       // lower triangle
  std::vector<int> counts(pc), displs(pc);
  for (int q = 0; q < pc; ++q) {
    counts[q] = (first[q + 1] - first[q]) * d;
    displs[q] = first[q] * d;
  }
  const double t = kernel.gradient_scale();
  const char nt = 'N', lower = 'L';
  const double one = 1.0;
  for (int c = 0; c < classes; ++c) {
    for (int k = 0; k < n_j; ++k) {
      const double s = a_full[static_cast<std::size_t>(cols_j[k]) * classes + c];
      for (int j = 0; j < d; ++j)
        b[static_cast<std::size_t>(k) * d + j] =
            static_cast<T>(s * x_j[static_cast<std::size_t>(k) * d + j]);
    }
    // partial (d x n_i, column-major) = B^T (d x n_j) * W[I,J]^T (n_j x n_i): a local DGEMM
    // whose rows of the product are contiguous, ready to be reduce-scattered.
    if (n_i > 0 && d > 0) {
      if (n_j > 0) {
        local_gemm_nt(d, n_i, n_j, b.data(), d, w.data(), w.ld(), partial.data(), d);
      } else {
        std::fill(partial.begin(), partial.end(), T(0));
      }
    }
    const int rc = MPI_Reduce_scatter(partial.data(), jr_t.data(), counts.data(), mpi_type<T>(),
                                      MPI_SUM, grid.row_comm().get());
    mpi::check(rc, "MPI_Reduce_scatter (AGOP)");
    for (std::size_t k = 0; k < jr.size(); ++k) jr[k] = static_cast<double>(jr_t[k]);
    // J_R = t (J_R - diag(W a_c)[R] X[R, :]); the t^2 is applied to G at the end.
    for (int k = 0; k < n_r; ++k) {
      const double s = wa_full[static_cast<std::size_t>(rows_r[k]) * classes + c];
      double* row = &jr[static_cast<std::size_t>(k) * d];
      const double* xr = &x_r[static_cast<std::size_t>(k) * d];
      for (int j = 0; j < d; ++j) row[j] -= s * xr[j];
    }
    // G += J_R^T J_R: J_R row-major |R| x d is column-major d x |R|.
    if (n_r > 0) dsyrk_(&lower, &nt, &d, &n_r, &one, jr.data(), &d, &one, g_local.data(), &d);
  }
  (void)my_col;

  const double scale = n > 0 ? t * t / n : 0.0;
  for (auto& v : g_local) v *= scale;
  comm.sum_in_place(g_local.data(), g_local.size());
  // g_local is column-major with the lower triangle filled: mirror it into a full symmetric
  // matrix (row-major == column-major for a symmetric matrix).
  for (int j = 0; j < d; ++j)
    for (int i = j + 1; i < d; ++i)
      g_local[static_cast<std::size_t>(i) * d + j] = g_local[static_cast<std::size_t>(j) * d + i];
  return g_local;
}

template std::vector<double> agop<double>(const model::Kernel&, const la::DistMatrix<double>&,
                                          const la::DistMatrix<double>&,
                                          const la::DistMatrix<double>&);
template std::vector<double> agop<float>(const model::Kernel&, const la::DistMatrix<float>&,
                                         const la::DistMatrix<double>&,
                                         const la::DistMatrix<double>&);

std::vector<double> sandwich(const std::vector<double>& r, const std::vector<double>& g, int d) {
  DEEPRFM_ASSERT(r.size() == static_cast<std::size_t>(d) * d && g.size() == r.size());
  // Row-major d x d is column-major transposed; R and the result are symmetric, so the
  // products need no transposes: (R G R)^T = R G^T R.
  std::vector<double> t(r.size()), out(r.size());
  const char nt = 'N';
  const double one = 1.0, zero = 0.0;
  dgemm_(&nt, &nt, &d, &d, &d, &one, r.data(), &d, g.data(), &d, &zero, t.data(), &d);
  dgemm_(&nt, &nt, &d, &d, &d, &one, t.data(), &d, r.data(), &d, &zero, out.data(), &d);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < i; ++j) {
      const double v = 0.5 * (out[static_cast<std::size_t>(i) * d + j] +
                              out[static_cast<std::size_t>(j) * d + i]);
      out[static_cast<std::size_t>(i) * d + j] = out[static_cast<std::size_t>(j) * d + i] = v;
    }
  return out;
}

}  // namespace deeprfm::model
