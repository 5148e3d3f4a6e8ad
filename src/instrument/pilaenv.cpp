// ScaLAPACK's PILAENV(ICTXT, PREC): PBLAS's logical block size (include/deeprfm/la/scalapack.hpp,
// set_pblas_logical_block). This file is its own target, deeprfm::pilaenv (an object library),
// linked into deeprfm's programs only: in an executable this definition takes precedence over
// the one inside libscalapack (ELF symbol lookup), which is why it must not sit in the library
// that other programs link.
#include <deeprfm/la/scalapack.hpp>

extern "C" int pilaenv_(const int* /*ictxt*/, const char* /*prec*/) {
  return deeprfm::la::detail::answer_pilaenv_query();
}
