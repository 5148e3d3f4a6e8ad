#!/usr/bin/env bash
# The sanitizer stage: the C++ Boost.Test tests built with AddressSanitizer (+ LeakSanitizer) and
# UndefinedBehaviorSanitizer in a build dir of their own, run under ctest. Any report fails it.
#   usage: bash scripts/run-sanitizers.sh [ctest args...]
#   DEEPRFM_SANITIZE_BUILD_DIR=... (default ./build-sanitize), DEEPRFM_CMAKE_ARGS=... to adjust.
# Needs what scripts/setup.sh installs (it is run by scripts/run-tests.sh after the main suite).
# The flags are those of the CMakePresets.json preset "dev", which is this build for a developer.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${DEEPRFM_SANITIZE_BUILD_DIR:-$repo/build-sanitize}"
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# shellcheck disable=SC2086
cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" \
  -DDEEPRFM_BUILD_TESTS=ON ${DEEPRFM_CMAKE_ARGS:-}

# Only the Boost.Test executables (every deeprfm_add_test), not the programs: the tests that run
# the programs (cli, reliability, tools_*, slurm, install) are Python/shell drivers whose
# sanitized runs would double the stage's time for little more coverage of our code.
mapfile -t targets < <(grep -ho 'deeprfm_add_test(NAME [A-Za-z0-9_]*' \
  "$repo"/tests/*.cmake "$repo"/tests/*/*.cmake | sed 's/.*NAME //' | sort -u)
((${#targets[@]})) || { echo "run-sanitizers: no deeprfm_add_test targets found" >&2; exit 1; }
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}"

# Which tests: every C++ test (names test_*) at 1 and 2 ranks, and the single-process unit tests.
# The 3, 4 and 6 rank entries run the same code on other grid shapes; under ASan (2-3x slower,
# and each rank oversubscribed on a 2-core machine) they would more than double the stage,
# which must stay within a few minutes of CI. Two ranks already exercise every communication
# path (row/column communicators, redistribution, agreement) the sanitizers can see.
include='^test_'
exclude='_np[346]($|_)'

# Reports: ASan/LSan/UBSan print a report and exit non-zero, so the test fails. Options reach the
# ranks because mpirun starts local ranks with its own environment.
#  - LSan suppressions cover only leaks allocated inside third-party libraries (tests/sanitizers/
#    lsan.supp): Open MPI and its runtime keep memory until exit; our own leaks are still caught.
#  - fast_unwind_on_malloc=0: Open MPI, hwloc, PMIx and OpenBLAS are built without frame
#    pointers, so the fast unwinder stops after malloc's caller and the stack never shows the
#    library the suppressions name (every MPI test then "leaks" ~116 KB). The DWARF unwinder
#    sees the whole stack; it costs little at these test sizes.
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$repo/tests/sanitizers/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
cd "$build_dir"
ctest --output-on-failure --timeout 900 -j "$(nproc)" -R "$include" -E "$exclude" "$@"
