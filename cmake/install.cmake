# What `cmake --install` puts where (docs/install.md). Included at the end of the top-level
# CMakeLists.txt, once every target exists.
#
#   bin/                            deeprfm, deeprfm-bench, deeprfm-mlp
#   include/deeprfm/                the public headers (the whole include/deeprfm tree) + version.hpp
#   lib/                            libdeeprfm (static by default; shared with BUILD_SHARED_LIBS)
#   lib/cmake/deeprfm/              deeprfmConfig.cmake, ...ConfigVersion, ...Targets, FindScaLAPACK
#   share/deeprfm/{jobs,tools}/     the Slurm/workstation job scripts and the Python tools, in the
#                                   same relative places as in the checkout (jobs/ finds ../tools)
#   share/doc/deeprfm/              README.md, LICENSE, CITATION.cff, docs/ (with its figures)
#   share/modulefiles/deeprfm/      <version>.lua (Lmod) and <version> (Tcl, Environment Modules)
#
# Every installed file that names the installation finds it relative to itself, so the tree
# works at any prefix (cmake --install --prefix P) and can be moved as a whole.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DEEPRFM_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/deeprfm" CACHE STRING
    "Where deeprfmConfig.cmake goes, relative to the install prefix")
set(DEEPRFM_INSTALL_MODULEDIR "${CMAKE_INSTALL_DATADIR}/modulefiles" CACHE STRING
    "Where the deeprfm/<version> modulefiles go, relative to the install prefix")
mark_as_advanced(DEEPRFM_INSTALL_CMAKEDIR DEEPRFM_INSTALL_MODULEDIR)
foreach(dir IN ITEMS CMAKE_INSTALL_BINDIR CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR
                     DEEPRFM_INSTALL_CMAKEDIR DEEPRFM_INSTALL_MODULEDIR)
  if(IS_ABSOLUTE "${${dir}}")
    message(FATAL_ERROR "${dir}=${${dir}} must be relative to the install prefix: the installed "
                        "package config and modulefiles find the installation relative to themselves")
  endif()
endforeach()

# ---- The library: exported as deeprfm::deeprfm, with an interface free of build-machine paths.
set_target_properties(deeprfm_lib PROPERTIES EXPORT_NAME deeprfm)
# The headers are C++17 (inline variables, nested namespaces): a consumer inherits that.
target_compile_features(deeprfm_lib PUBLIC cxx_std_17)

# deeprfm_lib's usage requirements hold two kinds of absolute path: parallel HDF5 as found here
# (${HDF5_INCLUDE_DIRS}, ${HDF5_C_LIBRARIES}) and glibc's libmvec (${DEEPRFM_LIBMVEC}). They stay
# as they are in the build tree; the installed interface gets what a consumer's own find gives:
# HDF5::HDF5 (deeprfmConfig.cmake finds parallel HDF5 again) and plain `mvec`, which the linker
# finds in the C library's own directory.
set(_deeprfm_hdf5_paths ${HDF5_INCLUDE_DIRS} ${HDF5_C_INCLUDE_DIRS} ${HDF5_C_LIBRARIES}
                        ${HDF5_LIBRARIES})
foreach(prop IN ITEMS INTERFACE_LINK_LIBRARIES INTERFACE_INCLUDE_DIRECTORIES
                      INTERFACE_SYSTEM_INCLUDE_DIRECTORIES)
  get_target_property(_items deeprfm_lib ${prop})
  if(NOT _items)
    continue()
  endif()
  set(_rewritten "")
  set(_hdf5_seen FALSE)
  foreach(item IN LISTS _items)
    if(item IN_LIST _deeprfm_hdf5_paths)
      list(APPEND _rewritten "$<BUILD_INTERFACE:${item}>")
      if(prop STREQUAL "INTERFACE_LINK_LIBRARIES" AND NOT _hdf5_seen)
        list(APPEND _rewritten "$<INSTALL_INTERFACE:HDF5::HDF5>")
        set(_hdf5_seen TRUE)
      endif()
    elseif(DEEPRFM_LIBMVEC AND item STREQUAL DEEPRFM_LIBMVEC)
      list(APPEND _rewritten "$<BUILD_INTERFACE:${item}>" "$<INSTALL_INTERFACE:mvec>")
    else()
      list(APPEND _rewritten "${item}")
    endif()
  endforeach()
  set_property(TARGET deeprfm_lib PROPERTY ${prop} "${_rewritten}")
endforeach()
unset(_items)
unset(_rewritten)
unset(_hdf5_seen)
unset(_deeprfm_hdf5_paths)

get_target_property(_deeprfm_lib_type deeprfm_lib TYPE)
set(DEEPRFM_EXECUTABLES deeprfm deeprfm-bench deeprfm-mlp)
if(_deeprfm_lib_type STREQUAL "SHARED_LIBRARY")
  # Installed programs find the installed libdeeprfm.so next to them, at any prefix.
  file(RELATIVE_PATH _bin_to_lib "/p/${CMAKE_INSTALL_BINDIR}" "/p/${CMAKE_INSTALL_LIBDIR}")
  set_target_properties(${DEEPRFM_EXECUTABLES} PROPERTIES INSTALL_RPATH "$ORIGIN/${_bin_to_lib}")
  set(DEEPRFM_LIBRARY_IS_SHARED TRUE)
else()
  set(DEEPRFM_LIBRARY_IS_SHARED FALSE)
endif()

install(TARGETS deeprfm_lib EXPORT deeprfmTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/deeprfm DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${DEEPRFM_VERSION_HEADER} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/deeprfm)

install(EXPORT deeprfmTargets NAMESPACE deeprfm:: DESTINATION ${DEEPRFM_INSTALL_CMAKEDIR})
# The Config repeats the build's ScaLAPACK choice; a Custom library list is the user's own.
if(DEEPRFM_SCALAPACK_VENDOR STREQUAL "Custom")
  set(DEEPRFM_CONFIG_SCALAPACK_LIBRARIES "${ScaLAPACK_LIBRARIES}")
else()
  set(DEEPRFM_CONFIG_SCALAPACK_LIBRARIES "")
endif()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/deeprfmConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/deeprfmConfig.cmake
                              INSTALL_DESTINATION ${DEEPRFM_INSTALL_CMAKEDIR})
# Compatibility: 0.x. For a 0.x version the minor number is the one that may break the
# interface (headers and link interface change between 0.1 and 0.2 as the project settles), so
# SameMajorVersion would let find_package(deeprfm 0.1) accept a 0.2 that no longer builds the
# caller's code. SameMinorVersion accepts 0.1.x for a 0.1 request (patch releases only). Once at
# 1.0, SameMajorVersion is the right promise.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/deeprfmConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/deeprfmConfig.cmake
              ${PROJECT_BINARY_DIR}/deeprfmConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/FindScaLAPACK.cmake
        DESTINATION ${DEEPRFM_INSTALL_CMAKEDIR})

# ---- The programs, the job scripts and tools, the documentation.
install(TARGETS ${DEEPRFM_EXECUTABLES} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/jobs DESTINATION ${CMAKE_INSTALL_DATADIR}/deeprfm
        USE_SOURCE_PERMISSIONS)
file(GLOB _deeprfm_tools CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tools/*.py)
install(PROGRAMS ${_deeprfm_tools} DESTINATION ${CMAKE_INSTALL_DATADIR}/deeprfm/tools)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/LICENSE
              ${PROJECT_SOURCE_DIR}/CITATION.cff
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# docs/ keeps its place next to README.md, so that the README's links and the figures work.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- Modulefiles: relocatable, each finds the prefix from its own path.
set(DEEPRFM_MODULEFILE_SUFFIX "/${DEEPRFM_INSTALL_MODULEDIR}/deeprfm/${PROJECT_VERSION}")
if(DEEPRFM_LIBRARY_IS_SHARED)
  set(DEEPRFM_MODULE_LUA_LIBPATH
      "prepend_path(\"LD_LIBRARY_PATH\", pathJoin(root, \"${CMAKE_INSTALL_LIBDIR}\"))")
  set(DEEPRFM_MODULE_TCL_LIBPATH "prepend-path LD_LIBRARY_PATH \"$root/${CMAKE_INSTALL_LIBDIR}\"")
else()
  set(DEEPRFM_MODULE_LUA_LIBPATH "-- libdeeprfm is static: nothing for LD_LIBRARY_PATH")
  set(DEEPRFM_MODULE_TCL_LIBPATH "# libdeeprfm is static: nothing for LD_LIBRARY_PATH")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/modulefile.lua.in
               ${PROJECT_BINARY_DIR}/modulefiles/deeprfm/${PROJECT_VERSION}.lua @ONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/modulefile.tcl.in
               ${PROJECT_BINARY_DIR}/modulefiles/deeprfm/${PROJECT_VERSION} @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/modulefiles/deeprfm/${PROJECT_VERSION}.lua
              ${PROJECT_BINARY_DIR}/modulefiles/deeprfm/${PROJECT_VERSION}
        DESTINATION ${DEEPRFM_INSTALL_MODULEDIR}/deeprfm)
