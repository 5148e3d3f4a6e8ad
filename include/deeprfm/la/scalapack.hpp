#pragma once
/// ScaLAPACK, PBLAS, BLACS, BLAS and LAPACK in three thin layers: the raw C/Fortran
/// prototypes (extern "C"), then typed 0-based overloads for double and float in namespace
/// deeprfm::la::scalapack. The Fortran +1 of submatrix offsets exists only in the overloads.
#include <cstdint>

#include <mpi.h>

extern "C" {
// BLACS (C interface).
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int* context, char* order, int nprow, int npcol);
void Cblacs_gridinfo(int context, int* nprow, int* npcol, int* myrow, int* mycol);
void Cblacs_gridexit(int context);

// ScaLAPACK tools.
int numroc_(const int* n, const int* nb, const int* iproc, const int* isrcproc, const int* nprocs);
int indxg2l_(const int* indxglob, const int* nb, const int* iproc, const int* isrcproc,
             const int* nprocs);
int indxg2p_(const int* indxglob, const int* nb, const int* iproc, const int* isrcproc,
             const int* nprocs);
int indxl2g_(const int* indxloc, const int* nb, const int* iproc, const int* isrcproc,
             const int* nprocs);
void descinit_(int* desc, const int* m, const int* n, const int* mb, const int* nb,
               const int* irsrc, const int* icsrc, const int* ictxt, const int* lld, int* info);

// PBLAS.
void pdgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
             const double* alpha, const double* a, const int* ia, const int* ja, const int* desca,
             const double* b, const int* ib, const int* jb, const int* descb, const double* beta,
             double* c, const int* ic, const int* jc, const int* descc);
void psgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
             const float* alpha, const float* a, const int* ia, const int* ja, const int* desca,
             const float* b, const int* ib, const int* jb, const int* descb, const float* beta,
             float* c, const int* ic, const int* jc, const int* descc);
void pdsyrk_(const char* uplo, const char* trans, const int* n, const int* k, const double* alpha,
             const double* a, const int* ia, const int* ja, const int* desca, const double* beta,
             double* c, const int* ic, const int* jc, const int* descc);
void pssyrk_(const char* uplo, const char* trans, const int* n, const int* k, const float* alpha,
             const float* a, const int* ia, const int* ja, const int* desca, const float* beta,
             float* c, const int* ic, const int* jc, const int* descc);
void pdgemr2d_(const int* m, const int* n, const double* a, const int* ia, const int* ja,
               const int* desca, double* b, const int* ib, const int* jb, const int* descb,
               const int* ictxt);
void pdtran_(const int* m, const int* n, const double* alpha, const double* a, const int* ia,
             const int* ja, const int* desca, const double* beta, double* c, const int* ic,
             const int* jc, const int* descc);

// ScaLAPACK.
void pdpotrf_(const char* uplo, const int* n, double* a, const int* ia, const int* ja,
              const int* desca, int* info);
void pspotrf_(const char* uplo, const int* n, float* a, const int* ia, const int* ja,
              const int* desca, int* info);
void pdpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a, const int* ia,
              const int* ja, const int* desca, double* b, const int* ib, const int* jb,
              const int* descb, int* info);
void pspotrs_(const char* uplo, const int* n, const int* nrhs, const float* a, const int* ia,
              const int* ja, const int* desca, float* b, const int* ib, const int* jb,
              const int* descb, int* info);
double pdlange_(const char* norm, const int* m, const int* n, const double* a, const int* ia,
                const int* ja, const int* desca, double* work);
double pdlansy_(const char* norm, const char* uplo, const int* n, const double* a, const int* ia,
                const int* ja, const int* desca, double* work);
void pspocon_(const char* uplo, const int* n, const float* a, const int* ia, const int* ja,
              const int* desca, const float* anorm, float* rcond, float* work, const int* lwork,
              int* iwork, const int* liwork, int* info);
float pslansy_(const char* norm, const char* uplo, const int* n, const float* a, const int* ia,
               const int* ja, const int* desca, float* work);
void pdpocon_(const char* uplo, const int* n, const double* a, const int* ia, const int* ja,
              const int* desca, const double* anorm, double* rcond, double* work, const int* lwork,
              int* iwork, const int* liwork, int* info);

// BLAS / LAPACK (serial, for replicated d x d work).
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
            const double* beta, double* c, const int* ldc);
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc);
void dsyrk_(const char* uplo, const char* trans, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* beta, double* c, const int* ldc);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
             double* work, const int* lwork, int* iwork, const int* liwork, int* info);
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a, const int* lda,
             double* b, const int* ldb, int* info);
}

namespace deeprfm::la {
template <class T>
class DistMatrix;

/// PBLAS's logical block size: the panel width in which reference PBLAS splits pdgemm,
/// pdsyrk and pdtrsm (and so pdpotrf, pdpotrs, pdpocon) into local BLAS calls. ScaLAPACK
/// reads it from PILAENV, a routine its documentation leaves to the user to tune; the separate
/// target deeprfm::pilaenv (src/instrument/pilaenv.cpp), which deeprfm's programs link, defines
/// PILAENV to return this value. A program linking only deeprfm::deeprfm keeps its ScaLAPACK's
/// own PILAENV, and this setting then has no effect (pblas_logical_block_queries() stays 0). The
/// reference value, 32, turns the updates inside pdpotrf into rank-32 local GEMMs and cost it 5-8
/// points of the DGEMM rate at n = 16000 on 2 ranks (docs/performance.md). Default 512. Vendor
/// libraries (MKL, LibSci) may ignore it. Set it to the same value on every rank, before ScaLAPACK
/// runs. Local (process-wide).
inline constexpr int kMinPblasLogicalBlock = 512;
void set_pblas_logical_block(int width);
int pblas_logical_block();

/// The default for block-cyclic block size `block`: the smallest multiple of it >=
/// kMinPblasLogicalBlock (512). Local.
int default_pblas_logical_block(int block);

/// How many times ScaLAPACK/PBLAS has called deeprfm's PILAENV in this process: 0 after a
/// ScaLAPACK call means the library resolved PILAENV internally and the setting has no
/// effect. Local.
long pblas_logical_block_queries();

namespace detail {
/// Called by deeprfm::pilaenv's PILAENV only: counts the query and returns the setting. Local.
int answer_pilaenv_query();
}  // namespace detail
}  // namespace deeprfm::la

namespace deeprfm::la::scalapack {

/// C(ic:, jc:) = alpha op(A(ia:, ja:)) op(B(ib:, jb:)) + beta C. 0-based offsets.
/// Collective over the grid of the matrices.
template <class T>
void gemm(char transa, char transb, int m, int n, int k, T alpha, const DistMatrix<T>& a, int ia,
          int ja, const DistMatrix<T>& b, int ib, int jb, T beta, DistMatrix<T>& c, int ic, int jc);
/// Whole-matrix form of gemm. Collective.
template <class T>
void gemm(char transa, char transb, T alpha, const DistMatrix<T>& a, const DistMatrix<T>& b, T beta,
          DistMatrix<T>& c);
/// C = alpha A A^T + beta C (trans = 'N') or alpha A^T A + beta C (trans = 'T') on the `uplo`
/// triangle. Collective.
template <class T>
void syrk(char uplo, char trans, T alpha, const DistMatrix<T>& a, T beta, DistMatrix<T>& c);
/// Cholesky factorisation in place; returns ScaLAPACK's info (not agreed: the caller agrees;
/// ScaLAPACK itself returns the same info on all ranks). Collective.
template <class T>
int potrf(char uplo, DistMatrix<T>& a);
/// Solve with a Cholesky factor; B is overwritten. Returns info. Collective.
template <class T>
int potrs(char uplo, const DistMatrix<T>& a, DistMatrix<T>& b);
/// Frobenius ('F'), max-abs ('M'), one ('1') or infinity ('I') norm. Collective.
double lange(char norm, const DistMatrix<double>& a);
/// Reciprocal condition number (1-norm) from a Cholesky factor and the 1-norm of the original
/// matrix; returns info through `info`. Collective.
double pocon(char uplo, const DistMatrix<double>& factor, double anorm, int& info);
/// Single-precision pocon. Collective.
double pocon(char uplo, const DistMatrix<float>& factor, double anorm, int& info);
/// 1-norm of a symmetric matrix from its `uplo` triangle. Collective.
double lansy_one(char uplo, const DistMatrix<double>& a);
double lansy_one(char uplo, const DistMatrix<float>& a);
/// Copy A into B, which may live on another grid/distribution. `context` must include every
/// rank of both grids. Collective over that context.
void gemr2d(const DistMatrix<double>& a, DistMatrix<double>& b, int context);

}  // namespace deeprfm::la::scalapack
