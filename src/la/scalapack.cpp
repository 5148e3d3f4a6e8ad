#include <deeprfm/la/scalapack.hpp>

#include <algorithm>
#include <atomic>
#include <vector>

#include <deeprfm/base/error.hpp>
#include <deeprfm/la/dist_matrix.hpp>

namespace deeprfm::la {
namespace {
std::atomic<int> g_pblas_logical_block{kMinPblasLogicalBlock};
std::atomic<long> g_pblas_logical_block_queries{0};
}  // namespace
}  // namespace deeprfm::la

namespace deeprfm::la {

void set_pblas_logical_block(int width) {
  DEEPRFM_CHECK_ABOUT(width >= 1, input, "pblas-block",
                      "the PBLAS logical block size must be >= 1, got " << width);
  g_pblas_logical_block.store(width, std::memory_order_relaxed);
}

int pblas_logical_block() { return g_pblas_logical_block.load(std::memory_order_relaxed); }

int default_pblas_logical_block(int block) {
  const int b = std::max(block, 1);
  return ((kMinPblasLogicalBlock + b - 1) / b) * b;
}

long pblas_logical_block_queries() {
  return g_pblas_logical_block_queries.load(std::memory_order_relaxed);
}

int detail::answer_pilaenv_query() {
  g_pblas_logical_block_queries.fetch_add(1, std::memory_order_relaxed);
  return g_pblas_logical_block.load(std::memory_order_relaxed);
}

}  // namespace deeprfm::la

namespace deeprfm::la::scalapack {

namespace {
void raw_gemm(const char* ta, const char* tb, const int* m, const int* n, const int* k,
              const double* alpha, const double* a, const int* ia, const int* ja, const int* da,
              const double* b, const int* ib, const int* jb, const int* db, const double* beta,
              double* c, const int* ic, const int* jc, const int* dc) {
  pdgemm_(ta, tb, m, n, k, alpha, a, ia, ja, da, b, ib, jb, db, beta, c, ic, jc, dc);
}
void raw_gemm(const char* ta, const char* tb, const int* m, const int* n, const int* k,
              const float* alpha, const float* a, const int* ia, const int* ja, const int* da,
              const float* b, const int* ib, const int* jb, const int* db, const float* beta,
              float* c, const int* ic, const int* jc, const int* dc) {
  psgemm_(ta, tb, m, n, k, alpha, a, ia, ja, da, b, ib, jb, db, beta, c, ic, jc, dc);
}
void raw_syrk(const char* uplo, const char* trans, const int* n, const int* k, const double* alpha,
              const double* a, const int* ia, const int* ja, const int* da, const double* beta,
              double* c, const int* ic, const int* jc, const int* dc) {
  pdsyrk_(uplo, trans, n, k, alpha, a, ia, ja, da, beta, c, ic, jc, dc);
}
void raw_syrk(const char* uplo, const char* trans, const int* n, const int* k, const float* alpha,
              const float* a, const int* ia, const int* ja, const int* da, const float* beta,
              float* c, const int* ic, const int* jc, const int* dc) {
  pssyrk_(uplo, trans, n, k, alpha, a, ia, ja, da, beta, c, ic, jc, dc);
}
void raw_potrf(const char* uplo, const int* n, double* a, const int* ia, const int* ja,
               const int* da, int* info) {
  pdpotrf_(uplo, n, a, ia, ja, da, info);
}
void raw_potrf(const char* uplo, const int* n, float* a, const int* ia, const int* ja,
               const int* da, int* info) {
  pspotrf_(uplo, n, a, ia, ja, da, info);
}
void raw_potrs(const char* uplo, const int* n, const int* nrhs, const double* a, const int* ia,
               const int* ja, const int* da, double* b, const int* ib, const int* jb, const int* db,
               int* info) {
  pdpotrs_(uplo, n, nrhs, a, ia, ja, da, b, ib, jb, db, info);
}
void raw_potrs(const char* uplo, const int* n, const int* nrhs, const float* a, const int* ia,
               const int* ja, const int* da, float* b, const int* ib, const int* jb, const int* db,
               int* info) {
  pspotrs_(uplo, n, nrhs, a, ia, ja, da, b, ib, jb, db, info);
}
}  // namespace

template <class T>
void gemm(char transa, char transb, int m, int n, int k, T alpha, const DistMatrix<T>& a, int ia,
          int ja, const DistMatrix<T>& b, int ib, int jb, T beta, DistMatrix<T>& c, int ic,
          int jc) {
  if (m == 0 || n == 0) return;
  const int ia1 = ia + 1, ja1 = ja + 1, ib1 = ib + 1, jb1 = jb + 1, ic1 = ic + 1, jc1 = jc + 1;
  raw_gemm(&transa, &transb, &m, &n, &k, &alpha, a.data(), &ia1, &ja1, a.desc(), b.data(), &ib1,
           &jb1, b.desc(), &beta, c.data(), &ic1, &jc1, c.desc());
}

template <class T>
void gemm(char transa, char transb, T alpha, const DistMatrix<T>& a, const DistMatrix<T>& b, T beta,
          DistMatrix<T>& c) {
  const int k = (transa == 'N' || transa == 'n') ? a.cols() : a.rows();
  gemm(transa, transb, c.rows(), c.cols(), k, alpha, a, 0, 0, b, 0, 0, beta, c, 0, 0);
}

template <class T>
void syrk(char uplo, char trans, T alpha, const DistMatrix<T>& a, T beta, DistMatrix<T>& c) {
  const int n = c.rows();
  const int k = (trans == 'N' || trans == 'n') ? a.cols() : a.rows();
  if (n == 0) return;
  const int one = 1;
  raw_syrk(&uplo, &trans, &n, &k, &alpha, a.data(), &one, &one, a.desc(), &beta, c.data(), &one,
           &one, c.desc());
}

template <class T>
int potrf(char uplo, DistMatrix<T>& a) {
  const int n = a.rows(), one = 1;
  int info = 0;
  if (n == 0) return 0;
  raw_potrf(&uplo, &n, a.data(), &one, &one, a.desc(), &info);
  return info;
}

template <class T>
int potrs(char uplo, const DistMatrix<T>& a, DistMatrix<T>& b) {
  const int n = a.rows(), nrhs = b.cols(), one = 1;
  int info = 0;
  if (n == 0 || nrhs == 0) return 0;
  raw_potrs(&uplo, &n, &nrhs, a.data(), &one, &one, a.desc(), b.data(), &one, &one, b.desc(),
            &info);
  return info;
}

double lange(char norm, const DistMatrix<double>& a) {
  const int m = a.rows(), n = a.cols(), one = 1;
  if (m == 0 || n == 0) return 0.0;
  // Workspace: 'I' needs local rows (padded), '1' local cols; allocate generously.
  std::vector<double> work(static_cast<std::size_t>(a.local_rows() + a.local_cols() +
                                                    a.dist().rows().block() +
                                                    a.dist().cols().block()) +
                           16);
  return pdlange_(&norm, &m, &n, a.data(), &one, &one, a.desc(), work.data());
}

double pocon(char uplo, const DistMatrix<double>& factor, double anorm, int& info) {
  const int n = factor.rows(), one = 1;
  double rcond = 0.0;
  if (n == 0) return 1.0;
  // Workspace query.
  int lwork = -1, liwork = -1;
  double wq = 0;
  int iwq = 0;
  pdpocon_(&uplo, &n, factor.data(), &one, &one, factor.desc(), &anorm, &rcond, &wq, &lwork, &iwq,
           &liwork, &info);
  lwork = static_cast<int>(wq) + 1;
  liwork = iwq + 1;
  std::vector<double> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(liwork));
  pdpocon_(&uplo, &n, factor.data(), &one, &one, factor.desc(), &anorm, &rcond, work.data(), &lwork,
           iwork.data(), &liwork, &info);
  return rcond;
}

double pocon(char uplo, const DistMatrix<float>& factor, double anorm, int& info) {
  const int n = factor.rows(), one = 1;
  float rcond = 0.0f, fnorm = static_cast<float>(anorm);
  if (n == 0) return 1.0;
  int lwork = -1, liwork = -1, iwq = 0;
  float wq = 0;
  pspocon_(&uplo, &n, factor.data(), &one, &one, factor.desc(), &fnorm, &rcond, &wq, &lwork, &iwq,
           &liwork, &info);
  lwork = static_cast<int>(wq) + 1;
  liwork = iwq + 1;
  std::vector<float> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(liwork));
  pspocon_(&uplo, &n, factor.data(), &one, &one, factor.desc(), &fnorm, &rcond, work.data(), &lwork,
           iwork.data(), &liwork, &info);
  return rcond;
}

namespace {
template <class T>
std::size_t lansy_work_size(const DistMatrix<T>& a) {
  return static_cast<std::size_t>(2 * (a.local_rows() + a.local_cols()) +
                                  16 * a.dist().rows().block()) +
         64;
}
}  // namespace

double lansy_one(char uplo, const DistMatrix<double>& a) {
  const int n = a.rows(), one = 1;
  if (n == 0) return 0.0;
  std::vector<double> work(lansy_work_size(a));
  const char norm = '1';
  return pdlansy_(&norm, &uplo, &n, a.data(), &one, &one, a.desc(), work.data());
}

double lansy_one(char uplo, const DistMatrix<float>& a) {
  const int n = a.rows(), one = 1;
  if (n == 0) return 0.0;
  std::vector<float> work(lansy_work_size(a));
  const char norm = '1';
  return pslansy_(&norm, &uplo, &n, a.data(), &one, &one, a.desc(), work.data());
}

void gemr2d(const DistMatrix<double>& a, DistMatrix<double>& b, int context) {
  const int m = a.rows(), n = a.cols(), one = 1;
  if (m == 0 || n == 0) return;
  pdgemr2d_(&m, &n, a.data(), &one, &one, a.desc(), b.data(), &one, &one, b.desc(), &context);
}

template void gemm<double>(char, char, int, int, int, double, const DistMatrix<double>&, int, int,
                           const DistMatrix<double>&, int, int, double, DistMatrix<double>&, int,
                           int);
template void gemm<float>(char, char, int, int, int, float, const DistMatrix<float>&, int, int,
                          const DistMatrix<float>&, int, int, float, DistMatrix<float>&, int, int);
template void gemm<double>(char, char, double, const DistMatrix<double>&, const DistMatrix<double>&,
                           double, DistMatrix<double>&);
template void gemm<float>(char, char, float, const DistMatrix<float>&, const DistMatrix<float>&,
                          float, DistMatrix<float>&);
template void syrk<double>(char, char, double, const DistMatrix<double>&, double,
                           DistMatrix<double>&);
template void syrk<float>(char, char, float, const DistMatrix<float>&, float, DistMatrix<float>&);
template int potrf<double>(char, DistMatrix<double>&);
template int potrf<float>(char, DistMatrix<float>&);
template int potrs<double>(char, const DistMatrix<double>&, DistMatrix<double>&);
template int potrs<float>(char, const DistMatrix<float>&, DistMatrix<float>&);

}  // namespace deeprfm::la::scalapack
