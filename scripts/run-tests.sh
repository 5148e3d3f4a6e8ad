#!/usr/bin/env bash
# Set everything up, then build and run the whole test suite (Boost.Test under ctest; MPI
# tests at 1, 2, 3, 4 and 6 ranks, oversubscribed on small machines; the Slurm tests on a Slurm
# cluster the suite starts on this machine and stops again).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh" --tests
build_dir="${DEEPRFM_BUILD_DIR:-$repo/build}"
cd "$build_dir"
ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@"
