# FindScaLAPACK: provides the imported target ScaLAPACK::ScaLAPACK (ScaLAPACK + BLACS + LAPACK + BLAS).
#
# DEEPRFM_SCALAPACK_VENDOR selects the provider:
#   pkgconfig  Debian/Ubuntu libscalapack-openmpi-dev (pkg-config module scalapack-openmpi, or
#              the one named by DEEPRFM_SCALAPACK_PC), which pulls in OpenBLAS/LAPACK/BLAS.
#   MKL        Intel oneMKL ScaLAPACK with the Open MPI (or Intel MPI) BLACS; needs MKLROOT.
#   LibSci     Cray LibSci: the compiler wrappers (CC) link it already; nothing is added.
#   Custom     ScaLAPACK_LIBRARIES given by the user (a ;-list of libraries / link flags).
include(FindPackageHandleStandardArgs)

set(_vendor "${DEEPRFM_SCALAPACK_VENDOR}")
if(NOT _vendor)
  set(_vendor pkgconfig)
endif()

if(_vendor STREQUAL "pkgconfig")
  find_package(PkgConfig REQUIRED)
  if(NOT DEEPRFM_SCALAPACK_PC)
    set(DEEPRFM_SCALAPACK_PC scalapack-openmpi)
  endif()
  pkg_check_modules(PC_SCALAPACK QUIET IMPORTED_TARGET ${DEEPRFM_SCALAPACK_PC})
  if(NOT PC_SCALAPACK_FOUND)
    pkg_check_modules(PC_SCALAPACK QUIET IMPORTED_TARGET scalapack)
  endif()
  pkg_check_modules(PC_OPENBLAS QUIET IMPORTED_TARGET openblas)
  if(PC_SCALAPACK_FOUND)
    set(ScaLAPACK_LIBRARIES PkgConfig::PC_SCALAPACK)
    if(PC_OPENBLAS_FOUND)
      # Link OpenBLAS directly so that openblas_get_corename()/openblas_set_num_threads() resolve.
      list(APPEND ScaLAPACK_LIBRARIES PkgConfig::PC_OPENBLAS)
      set(DEEPRFM_HAVE_OPENBLAS ON)
    endif()
  endif()
elseif(_vendor STREQUAL "MKL")
  if(NOT DEFINED ENV{MKLROOT})
    message(FATAL_ERROR "DEEPRFM_SCALAPACK_VENDOR=MKL needs MKLROOT in the environment")
  endif()
  set(_mkl "$ENV{MKLROOT}/lib/intel64")
  set(ScaLAPACK_LIBRARIES
      ${_mkl}/libmkl_scalapack_lp64.so -Wl,--no-as-needed ${_mkl}/libmkl_intel_lp64.so
      ${_mkl}/libmkl_gnu_thread.so ${_mkl}/libmkl_core.so ${_mkl}/libmkl_blacs_openmpi_lp64.so
      -lgomp -lpthread -lm -ldl)
elseif(_vendor STREQUAL "LibSci")
  set(ScaLAPACK_LIBRARIES "")
  set(ScaLAPACK_LIBSCI ON)
elseif(_vendor STREQUAL "Custom")
  if(NOT ScaLAPACK_LIBRARIES)
    message(FATAL_ERROR "DEEPRFM_SCALAPACK_VENDOR=Custom needs -DScaLAPACK_LIBRARIES=...")
  endif()
else()
  message(FATAL_ERROR "Unknown DEEPRFM_SCALAPACK_VENDOR '${_vendor}'")
endif()

if(ScaLAPACK_LIBSCI)
  find_package_handle_standard_args(ScaLAPACK DEFAULT_MSG _vendor)
else()
  find_package_handle_standard_args(ScaLAPACK DEFAULT_MSG ScaLAPACK_LIBRARIES)
endif()

if(ScaLAPACK_FOUND AND NOT TARGET ScaLAPACK::ScaLAPACK)
  add_library(ScaLAPACK::ScaLAPACK INTERFACE IMPORTED)
  set_property(TARGET ScaLAPACK::ScaLAPACK PROPERTY INTERFACE_LINK_LIBRARIES "${ScaLAPACK_LIBRARIES}")
  if(DEEPRFM_HAVE_OPENBLAS)
    set_property(TARGET ScaLAPACK::ScaLAPACK PROPERTY INTERFACE_COMPILE_DEFINITIONS DEEPRFM_HAVE_OPENBLAS=1)
  endif()
endif()
