#!/usr/bin/env bash
# Set everything up, check the formatting, then build and run the whole test suite (Boost.Test
# under ctest; MPI tests at 1, 2, 3, 4 and 6 ranks, oversubscribed on small machines; the Slurm
# tests on a Slurm cluster the suite starts on this machine and stops again), then the sanitizer
# stage: the C++ tests again under AddressSanitizer and UBSan (scripts/run-sanitizers.sh, in
# ./build-sanitize; about 6.5 minutes on 2 cores). DEEPRFM_SANITIZE=0 skips that stage for a
# quick local run. Arguments go to the main ctest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh" --tests
bash "$repo/scripts/check-format.sh"
build_dir="${DEEPRFM_BUILD_DIR:-$repo/build}"
(cd "$build_dir" && ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@")
if [ "${DEEPRFM_SANITIZE:-1}" != 0 ]; then
  bash "$repo/scripts/run-sanitizers.sh"
else
  echo "run-tests: sanitizer stage skipped (DEEPRFM_SANITIZE=0)"
fi
