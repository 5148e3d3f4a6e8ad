#!/usr/bin/env bash
# Set up deeprfm on a Debian 12 (or Ubuntu) machine: install the packages it needs (when
# missing), then configure and build it in ./build (Release). Safe to run again.
#   usage: bash scripts/setup.sh [--tests]  (DEEPRFM_BUILD_DIR=..., DEEPRFM_CMAKE_ARGS=... to adjust)
# --tests adds what the test suite needs beyond the build: Slurm, its accounting database and
# munge, for the tests that run jobs on a Slurm cluster started on this machine (tests/slurm/),
# Lmod, for the test of the installed modulefiles (tests/install/), and clang-format, for the
# format check (scripts/check-format.sh).
set -euo pipefail
with_tests=0
for a in "$@"; do
  case "$a" in
    --tests) with_tests=1 ;;
    *) echo "setup: unknown argument $a (usage: setup.sh [--tests])" >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${DEEPRFM_BUILD_DIR:-$repo/build}"

packages=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  libscalapack-openmpi-dev libopenblas-dev
  libhdf5-openmpi-dev hdf5-tools
  libboost-program-options-dev libboost-test-dev
  zlib1g-dev
  python3 python3-numpy python3-h5py python3-matplotlib
  shellcheck
  dataset-fashion-mnist
)
if [ "$with_tests" = 1 ]; then
  packages+=(slurm-wlm slurmdbd munge mariadb-server util-linux lmod clang-format)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# shellcheck disable=SC2086
cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release ${DEEPRFM_CMAKE_ARGS:-}
cmake --build "$build_dir" -j "$(nproc)"
echo "setup: built $build_dir/deeprfm"
