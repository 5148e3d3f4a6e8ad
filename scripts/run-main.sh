#!/usr/bin/env bash
# Set everything up, then run the main job: Deep RFM with 2 MPI ranks on Fashion-MNIST
# (2,000 class-balanced training points, 2,000 test points, 8 layers), printing one line per
# layer and a final table, and writing results/fashion-mnist.h5. Extra arguments go to deeprfm
# (e.g. --n 4000 --layers 12).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh"
build_dir="${DEEPRFM_BUILD_DIR:-$repo/build}"
ranks="${DEEPRFM_RANKS:-2}"
mkdir -p "$repo/results"

mpi_flags=(--bind-to core)
[ "$(id -u)" -eq 0 ] && mpi_flags+=(--allow-run-as-root)
[ "$ranks" -gt "$(nproc)" ] && mpi_flags+=(--oversubscribe)
# One BLAS thread per rank: ranks already use every core (docs/performance.md).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
env_flags=(-x OPENBLAS_NUM_THREADS)
[ -n "${OPENBLAS_CORETYPE:-}" ] && env_flags+=(-x OPENBLAS_CORETYPE)

exec mpirun -n "$ranks" "${mpi_flags[@]}" "${env_flags[@]}" "$build_dir/deeprfm" \
  --data fashion-mnist --n 2000 --n-test 2000 --layers 8 \
  --output "$repo/results/fashion-mnist.h5" --overwrite "$@"
