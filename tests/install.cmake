# The installed tree (cmake/install.cmake, docs/install.md): tests/install/test_install.sh
# installs this build into a fresh prefix, builds and runs tests/install/consumer against it on
# 2 ranks, runs the installed programs, tools and job scripts, and loads the modulefiles with
# Lmod (Debian's lmod: scripts/setup.sh --tests). Label `install`. Included from
# tests/CMakeLists.txt.
add_test(NAME install
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/install/test_install.sh ${PROJECT_BINARY_DIR}
                 ${PROJECT_VERSION} ${CMAKE_COMMAND} ${MPIEXEC_EXECUTABLE} ${DEEPRFM_MPIEXEC_FLAGS})
set_tests_properties(install PROPERTIES TIMEOUT 300 LABELS "install;np2" PROCESSORS 2
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
