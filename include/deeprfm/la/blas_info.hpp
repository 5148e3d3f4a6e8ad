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

}  // namespace deeprfm::la
