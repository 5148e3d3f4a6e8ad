#pragma once
/// What the BLAS library is and how it runs: its name and the kernels it picked (OpenBLAS's
/// core name), its thread count, and advice when it fell back to slow generic kernels.
#include <string>

namespace deeprfm::la {

struct BlasInfo {
  std::string library;  ///< "OpenBLAS", or "unknown" for another BLAS
  std::string kernels;  ///< OpenBLAS core name (e.g. "SkylakeX", "Haswell", "Prescott")
  int threads = 1;      ///< BLAS threads of this rank
  std::string advice;   ///< non-empty when the kernels are slower than the CPU allows
};

/// Query the BLAS library. Local.
BlasInfo blas_info();

/// Set the BLAS thread count of this rank (no-op for a BLAS without that control). Local.
void set_blas_threads(int threads);

/// PBLAS's logical block size: the panel width in which reference PBLAS splits pdgemm,
/// pdsyrk and pdtrsm (and so pdpotrf, pdpotrs, pdpocon) into local BLAS calls. ScaLAPACK
/// reads it from PILAENV, a routine its documentation leaves to the user to tune; deeprfm
/// defines PILAENV to return this value. The reference value, 32, turns the updates inside
/// pdpotrf into rank-32 local GEMMs and costs it about 10% of the DGEMM rate at n = 16000
/// (docs/performance.md). Vendor libraries (MKL, LibSci) may ignore it. Set it to the same
/// value on every rank, before ScaLAPACK runs. Local (process-wide).
void set_pblas_logical_block(int width);
int pblas_logical_block();

/// The default for block-cyclic block size `block`: the smallest multiple of it >= 512. Local.
int default_pblas_logical_block(int block);

/// How many times ScaLAPACK/PBLAS has called deeprfm's PILAENV in this process: 0 after a
/// ScaLAPACK call means the library resolved PILAENV internally and the setting has no
/// effect. Local.
long pblas_logical_block_queries();

}  // namespace deeprfm::la
