# shellcheck shell=bash
# Shared by the Slurm tests (tests/slurm/test_*.sh): the test cluster's environment, checks
# that count towards 'N passed, N failed', and waiting for jobs. Sourced with
#   source lib.sh CLUSTER_DIR REPO BUILD_DIR WORK_NAME
# which cds into a fresh work folder BUILD_DIR/slurm-work/WORK_NAME (not under a node's /tmp:
# every node sees it, like a cluster's shared file system).
set -uo pipefail
cluster_dir="${1:?cluster folder}"
repo="${2:?repo}"
build="${3:?build folder}"
work_name="${4:?work name}"
python="${DEEPRFM_TEST_PYTHON:-/usr/bin/python3}"
if ! "$python" -c 'import h5py, numpy' 2>/dev/null; then
  echo "FAILED: $python lacks the Python module h5py or numpy (Debian: python3-h5py python3-numpy); run bash scripts/setup.sh --tests"
  echo "0 passed, 1 failed"
  exit 1
fi
if [ ! -f "$cluster_dir/env.sh" ]; then
  echo "FAILED: no test cluster in $cluster_dir (the ctest fixture slurm_cluster_start failed?)"
  echo "0 passed, 1 failed"
  exit 1
fi
# shellcheck source=/dev/null
source "$cluster_dir/env.sh"
work="$build/slurm-work/$work_name"
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1

# The job scripts' settings for this cluster (jobs/site.sh reads them from the environment).
export DEEPRFM_REPO="$repo" DEEPRFM_BIN="$build/deeprfm" DEEPRFM_RESULTS="$work/results"
export DEEPRFM_PYTHON="$python" SBATCH_PARTITION=debug SBATCH_ACCOUNT=deeprfm-tests
DEEPRFM_CORES_PER_NODE="$(getconf _NPROCESSORS_ONLN)"
export DEEPRFM_CORES_PER_NODE DEEPRFM_MEM_PER_NODE=0
export OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg

passed=0
failed=0
# check DESCRIPTION COMMAND...: one check; prints FAILED and the description on failure.
check() {
  local what="$1"; shift
  if "$@"; then
    passed=$((passed + 1)); echo "ok: $what"
  else
    failed=$((failed + 1)); echo "FAILED: $what"
  fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

# job_state ID: the controller's state of a job (PENDING, RUNNING, COMPLETED, ...), or the
# accounting one once the controller has forgotten it.
job_state() {
  local s
  s="$(scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n 1)"
  [ -n "$s" ] || s="$(sacct -n -X -j "$1" -o State%20 2>/dev/null | tail -n 1 | tr -d ' ')"
  echo "${s:-UNKNOWN}"
}

# wait_jobs SECONDS ID...: wait until no job of the list is pending, running or requeued.
wait_jobs() {
  local seconds="$1"; shift
  local start id s busy
  start="$(date +%s)"
  while :; do
    busy=0
    for id in "$@"; do
      s="$(job_state "$id")"
      case "$s" in
        PENDING|RUNNING|REQUEUED|REQUEUE_HOLD|REQUEUE_FED|CONFIGURING|COMPLETING|SUSPENDED|RESIZING|UNKNOWN)
          busy=1 ;;
      esac
    done
    [ "$busy" = 0 ] && return 0
    if [ $(($(date +%s) - start)) -ge "$seconds" ]; then
      echo "timed out after $seconds s waiting for jobs $*:"
      squeue
      return 1
    fi
    sleep 1
  done
}

# sacct_final_states ID...: "ID STATE EXIT" per job (allocations only), from accounting (waits
# until accounting has the final record).
sacct_final_states() {
  local id line i
  for id in "$@"; do
    for ((i = 0; i < 30; i++)); do
      line="$(sacct -n -X -j "$id" -o JobID%20,State%20,ExitCode%8 2>/dev/null | grep -v -E 'PENDING|RUNNING|REQUEUED' | tail -n 1)"
      [ -n "$line" ] && break
      sleep 1
    done
    echo "${line:-$id UNKNOWN -}"
  done
}

# sacct_settled SACCT_ARGS...: `sacct -n -X SACCT_ARGS` once accounting has caught up. The
# controller forgets a job before slurmdbd has stored its end, so this waits (up to 60 s) until
# no record is in a state that is not final. (A REQUEUED record is final history under -D.)
sacct_settled() {
  local out i
  for ((i = 0; i < 60; i++)); do
    out="$(sacct -n -X "$@" 2>/dev/null)"
    [ -n "$out" ] && ! echo "$out" | grep -q -E 'PENDING|RUNNING|COMPLETING|CONFIGURING|REQUEUE_' && break
    sleep 1
  done
  echo "$out"
}

# all_completed ID...: every job (every task of an array) ended COMPLETED with exit code 0.
all_completed() {
  local out
  out="$(sacct_settled -j "$(IFS=,; echo "$*")" -o JobID%20,State%20,ExitCode%8)"
  echo "$out" | sed 's/^/    sacct: /'
  [ -n "$out" ] && ! echo "$out" | grep -v -q -E 'COMPLETED +0:0'
}

# The results comparison (tests/slurm/compare_results.py).
same_results() { "$python" "$repo/tests/slurm/compare_results.py" "$@"; }

completed_layers_of() {
  "$python" -c 'import h5py, sys; print(int(h5py.File(sys.argv[1], "r")["checkpoint"].attrs["completed_layers"]))' "$1" 2>/dev/null || echo -1
}

file_contains() { grep -q -- "$2" "$1"; }
