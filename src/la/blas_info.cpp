#include <deeprfm/la/blas_info.hpp>

#include <fstream>
#include <sstream>

#ifdef DEEPRFM_HAVE_OPENBLAS
extern "C" {
char* openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);
}
#endif

namespace deeprfm::la {

namespace {
bool cpu_has(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line);
      std::string w;
      while (words >> w)
        if (w == flag) return true;
      return false;
    }
  }
  return false;
}
}  // namespace

BlasInfo blas_info() {
  BlasInfo info;
#ifdef DEEPRFM_HAVE_OPENBLAS
  info.library = "OpenBLAS";
  info.kernels = openblas_get_corename();
  info.threads = openblas_get_num_threads();
  const bool avx512 = cpu_has("avx512f") && cpu_has("avx512dq") && cpu_has("avx512vl");
  const bool avx2 = cpu_has("avx2") && cpu_has("fma");
  const std::string k = info.kernels;
  const bool generic = k == "Prescott" || k == "Core2" || k == "Nehalem" || k == "Sandybridge" ||
                       k == "Penryn" || k == "Dunnington" || k == "Katmai" || k == "Atom";
  if (avx512 && (generic || k == "Haswell" || k == "Zen")) {
    info.advice = "this CPU has AVX-512 but OpenBLAS runs its " + k +
                  " kernels; export OPENBLAS_CORETYPE=SkylakeX (or Cooperlake) before mpirun "
                  "(and pass it with mpirun -x OPENBLAS_CORETYPE) for up to 4x faster DGEMM";
  } else if (avx2 && generic) {
    info.advice = "this CPU has AVX2/FMA but OpenBLAS runs its " + k +
                  " kernels; export OPENBLAS_CORETYPE=Haswell before mpirun for faster DGEMM";
  }
#else
  info.library = "unknown";
  info.kernels = "unknown";
#endif
  return info;
}

void set_blas_threads(int threads) {
#ifdef DEEPRFM_HAVE_OPENBLAS
  if (threads > 0) openblas_set_num_threads(threads);
#else
  (void)threads;
#endif
}

}  // namespace deeprfm::la
