#!/usr/bin/env bash
# shellcheck disable=SC2016  # checks are single-quoted commands run by bash -c
# The job scripts without a cluster (the Slurm tests in tests/slurm/ submit them for real):
# DRY_RUN prints the full sbatch and deeprfm command lines and submits nothing; every data set
# needs its own folder; different options give different results files; and run_resumable
# (jobs/common.sh) with the real deeprfm under mpirun: a finished run is recognised, a file
# holding other options is refused by name, a stop signal to the batch shell checkpoints, and
# the next start continues to the same result as an uninterrupted run.
#   usage: test_jobs_scripts.sh REPO DEEPRFM PYTHON    (prints 'N passed, N failed')
set -uo pipefail
repo="${1:?repo}"
bin="${2:?deeprfm executable}"
python="${3:?python with h5py}"
# Without h5py, run_resumable treats every file as incomplete and the comparisons cannot run:
# a failure that names the fix, not ten confusing ones.
if ! "$python" -c 'import h5py, numpy' 2>/dev/null; then
  echo "FAILED: $python lacks the Python module h5py or numpy (Debian: python3-h5py python3-numpy); run bash scripts/setup.sh --tests"
  echo "0 passed, 1 failed"
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
passed=0; failed=0
check() {
  local what="$1"; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $what"; else failed=$((failed + 1)); echo "FAILED: $what"; fi
}

# A stand-in sbatch on PATH that only records that it was called: DRY_RUN must never call it.
mkdir -p bin
printf '#!/bin/sh\necho called >>"%s/sbatch-called"\necho 4242\n' "$tmp" >bin/sbatch
chmod +x bin/sbatch
export PATH="$tmp/bin:$PATH" DEEPRFM_BIN="$bin" DEEPRFM_RESULTS="$tmp/results" DEEPRFM_PYTHON="$python"
unset SLURM_JOB_ID DEEPRFM_LAUNCHER DEEPRFM_LOCAL

for s in "run 2" seeds strong weak; do
  # shellcheck disable=SC2086
  DRY_RUN=1 bash "$repo/jobs/submit.sh" $s >"dry-${s// /-}.out" 2>&1; rc=$?
  out="dry-${s// /-}.out"
  check "DRY_RUN $s: exit 0" test "$rc" -eq 0
  check "DRY_RUN $s: prints the sbatch command line" grep -q '^sbatch .*jobs/[a-z-]*\.sbatch$' "$out"
  check "DRY_RUN $s: prints the deeprfm command line" \
    grep -q -- "runs: srun --ntasks=[0-9]* --kill-on-bad-exit=1 --mpi=pmix --cpu-bind=cores $bin --continue --output $tmp/results/" "$out"
  check "DRY_RUN $s: no job id, nothing 'submitted'" bash -c "! grep -q -E 'submitted|4242' '$out'"
done
check "DRY_RUN: sbatch never called" test ! -e "$tmp/sbatch-called"
check "DRY_RUN seeds: one deeprfm line per seed, --seed 1..5" \
  bash -c "[ \$(grep -c -- '--seed [1-5] ' dry-seeds.out) -eq 5 ]"
check "DRY_RUN strong: the collection job depends on the points" \
  grep -q -- '--dependency=afterany:JOB_IDS_ABOVE' dry-strong.out

# Each data set has its own folder.
RUN_DATA=mnist DRY_RUN=1 bash "$repo/jobs/submit.sh" run 1 >mnist.out 2>&1; rc=$?
check "RUN_DATA=mnist without DEEPRFM_MNIST_DIR: refused (exit 2)" test "$rc" -eq 2
check "RUN_DATA=mnist without a folder: the message names DEEPRFM_MNIST_DIR" grep -q DEEPRFM_MNIST_DIR mnist.out
check "RUN_DATA=mnist without a folder: nothing printed to run" bash -c "! grep -q 'runs:' mnist.out"
DEEPRFM_MNIST_DIR="$repo/tests/data/idx-tiny" RUN_DATA=mnist DRY_RUN=1 bash "$repo/jobs/submit.sh" run 1 \
  >mnist-dir.out 2>&1
check "RUN_DATA=mnist with DEEPRFM_MNIST_DIR: that folder is passed" \
  grep -q -- "--data mnist .*--data-dir $repo/tests/data/idx-tiny" mnist-dir.out
RUN_DATA=cifar10 DEEPRFM_CIFAR10_DIR=/nonexistent DRY_RUN=1 bash "$repo/jobs/submit.sh" run 1 >cifar.out 2>&1; rc=$?
check "DEEPRFM_CIFAR10_DIR that is not a folder: refused" bash -c "[ $rc -eq 2 ] && grep -q 'not a folder' cifar.out"

# Different options, different files.
out_a="$(sed -n 's/.*--output \([^ ]*\) .*/\1/p' dry-run-2.out)"
RUN_EXTRA="--ridge 1e-3 --bandwidth 10" DRY_RUN=1 bash "$repo/jobs/submit.sh" run 2 >dry-extra.out 2>&1
out_b="$(sed -n 's/.*--output \([^ ]*\) .*/\1/p' dry-extra.out)"
check "RUN_EXTRA changes the results file name ($(basename "$out_a") vs $(basename "$out_b"))" \
  bash -c "[ -n '$out_a' ] && [ -n '$out_b' ] && [ '$out_a' != '$out_b' ]"
check "the extra options reach deeprfm" grep -q -- '--ridge 1e-3 --bandwidth 10' dry-extra.out

# run_resumable with the real deeprfm (mpirun, 2 ranks).
export DEEPRFM_LAUNCHER=mpirun DEEPRFM_LOCAL=1 OPENBLAS_NUM_THREADS=1
# shellcheck source=/dev/null
source "$repo/jobs/site.sh"
# shellcheck source=/dev/null
source "$repo/jobs/studies.sh"
# shellcheck source=/dev/null
source "$repo/jobs/common.sh"
opts=(--data synthetic --n 300 --dim 16 --classes 4 --layers 3 --width 32)

(launch_ranks 2 "${opts[@]}" --output ref.h5 --quiet) >ref.log 2>&1
check "uninterrupted reference run on the same 2 ranks" test -s ref.h5

# A stop signal to the batch shell during layer 2 (held by the test-only sleep fault).
(DEEPRFM_FAULT='sleep@0:2:agop' run_resumable 2 "$tmp/run.h5" "${opts[@]}" --stop-grace 2) >stop.log 2>&1 &
runner=$!
for _ in $(seq 300); do grep -q 'DEEPRFM_FAULT sleep' stop.log && break; sleep 0.1; done
kill -s TERM "$runner"
start="$(date +%s)"
wait "$runner"; rc=$?
check "TERM to the batch shell: run_resumable returns 75 (rc $rc) within seconds ($(($(date +%s) - start)) s)" \
  bash -c "[ $rc -eq 75 ] && [ $(($(date +%s) - start)) -le 30 ]"
check "TERM to the batch shell: passed on to the ranks as the stop signal" grep -q 'got SIGTERM: asking the ranks' stop.log
check "TERM to the batch shell: layer 1 stays checkpointed" test "$(completed_layers "$tmp/run.h5")" -eq 1
check "TERM to the batch shell: not run again locally" grep -q 'stopped with a checkpoint after layer 1' stop.log

run_resumable 2 "$tmp/run.h5" "${opts[@]}" >resume.log 2>&1; rc=$?
check "the next start continues the file (rc $rc)" bash -c "[ $rc -eq 0 ] && grep -q 'resuming .* after layer 1 of 3' resume.log"
check "continued run equals the uninterrupted one" \
  "$python" "$repo/tests/slurm/compare_results.py" ref.h5 "$tmp/run.h5" --rtol 0 --layers 3

run_resumable 2 "$tmp/run.h5" "${opts[@]}" >again.log 2>&1; rc=$?
check "a complete file with the same options: nothing to do (rc $rc)" \
  bash -c "[ $rc -eq 0 ] && grep -q 'nothing to do' again.log"
run_resumable 2 "$tmp/run.h5" "${opts[@]}" --ridge 1e-3 --bandwidth 10 >other.log 2>&1; rc=$?
check "the same file with other options: refused (rc $rc), naming --ridge and --bandwidth" \
  bash -c "[ $rc -eq 2 ] && grep -q -- '--ridge' other.log && grep -q -- '--bandwidth' other.log"
check "the refused run left the file as it was" \
  "$python" "$repo/tests/slurm/compare_results.py" ref.h5 "$tmp/run.h5" --rtol 0 --layers 3

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
