#!/usr/bin/env bash
# Time limits on the test cluster (tests/slurm/cluster.sh), with minute-scale limits:
#  1. a run longer than its job's time limit checkpoints, requeues itself several times and
#     finishes with results identical to an uninterrupted run, never killed by Slurm (TIMEOUT);
#  2. a job whose time limit is shorter than one layer (a phase held 60 s by the test-only
#     DEEPRFM_FAULT=sleep) abandons the layer in flight before the limit, does not requeue
#     itself, and says why.
# Slurm holds a requeued job for a while (about two minutes here) before it may start again;
# the test shortens that wait with `scontrol update StartTime=now` on its pending jobs.
#   usage: test_time_limit.sh CLUSTER_DIR REPO BUILD_DIR    (prints 'N passed, N failed')
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/slurm/lib.sh
source "$here/lib.sh" "$1" "$2" "$3" time-limit

submit() { bash "$repo/jobs/submit.sh" "$@"; }
job_id_of() { grep -o -E 'job [0-9]+' "$1" | grep -o -E '[0-9]+' | head -n 1; }

# wait_requeued SECONDS ID...: wait_jobs, starting requeued jobs at once.
wait_requeued() {
  local seconds="$1"; shift
  local start id
  local -A pending_since=()
  start="$(date +%s)"
  while [ $(($(date +%s) - start)) -lt "$seconds" ]; do
    local busy=0
    for id in "$@"; do
      case "$(job_state "$id")" in
        PENDING)
          busy=1
          # Only once the job has been pending for 15 s: its previous run must be cleaned up
          # first (started at once, Slurm kills it: "Job credential revoked").
          : "${pending_since[$id]:=$(date +%s)}"
          if [ $(($(date +%s) - pending_since[$id])) -ge 15 ] &&
             scontrol show job "$id" | grep -q 'Reason=BeginTime'; then
            scontrol update jobid="$id" starttime=now 2>/dev/null
          fi ;;
        RUNNING) busy=1; unset "pending_since[$id]" ;;
        REQUEUED|REQUEUE_HOLD|CONFIGURING|COMPLETING|UNKNOWN) busy=1 ;;
      esac
    done
    [ "$busy" = 0 ] && return 0
    sleep 1
  done
  echo "timed out waiting for $*"; squeue
  return 1
}

# Every layer holds rank 0 for 8 s in its AGOP (the test-only DEEPRFM_FAULT=sleep: a long
# phase, as a ScaLAPACK call is at large n) on top of 2-4 s of computing here: at most 5 layers
# fit in the ~47 s a 1-minute job leaves, so the 12 layers need at least 3 jobs (2 requeues)
# on any machine.
export RUN_N=2000 RUN_N_TEST=500 RUN_LAYERS=12 RUN_WIDTH=256 BLOCK_SIZE=64
export RUN_EXTRA="--stop-margin 10" DEEPRFM_TIME=00:01:00
# Slurm's own warning signal comes early at this scale (its resolution is a minute): the run
# must cope with it arriving at any time.
export SBATCH_SIGNAL=B:USR1@20 DEEPRFM_SIGNAL_LEAD=20
export RUN_OUTPUT="$work/limited.h5"
DEEPRFM_FAULT='sleep@0:*:agop' DEEPRFM_FAULT_SLEEP=8 submit run 1 >limited.out 2>&1
cat limited.out
limited="$(job_id_of limited.out)"

# The uninterrupted reference, on the other node, with the same ranks and grid.
unset RUN_OUTPUT
args_text="$(DEEPRFM_REPO="$repo" bash -c "source '$repo/jobs/site.sh'; source '$repo/jobs/studies.sh'; source '$repo/jobs/common.sh'; run_job_args")"
mapfile -t args <<<"$args_text"
srun -N 1 -n "$DEEPRFM_CORES_PER_NODE" --mpi=pmix "$DEEPRFM_BIN" "${args[@]}" --output ref.h5 \
  >ref.log 2>&1
check "uninterrupted reference run" grep -q '^results: ' ref.log

# 2. A time limit shorter than one layer.
export RUN_OUTPUT="$work/too-short.h5" RUN_N=300 RUN_N_TEST=100 RUN_LAYERS=2 RUN_WIDTH=64
DEEPRFM_FAULT='sleep@0:1:agop' submit run 1 >short.out 2>&1
short="$(job_id_of short.out)"

wait_requeued 900 "$limited" "$short"
records="$(sacct_settled -D -j "$limited" -o JobID%12,State%12,ExitCode%6,Elapsed%10)"
echo "$records" | sed 's/^/    sacct: /'
requeues="$(echo "$records" | grep -c REQUEUED)"
check "limited job: requeued itself $requeues times (at least 2)" test "$requeues" -ge 2
check "limited job: finished COMPLETED" bash -c "echo '$records' | tail -n 1 | grep -q -E 'COMPLETED +0:0'"
check "limited job: never killed by the time limit (no TIMEOUT record)" \
  bash -c "! echo '$records' | grep -q TIMEOUT"
check "limited job: 12 complete layers" test "$(completed_layers_of "$work/limited.h5")" -eq 12
check "limited job: results identical to the uninterrupted run" \
  same_results ref.h5 "$work/limited.h5" --rtol 0 --layers 12
check "limited job: the log says it checkpointed and requeued" \
  grep -q "requeueing job $limited" "deeprfm-run-$limited.out"

srecords="$(sacct_settled -D -j "$short" -o JobID%12,State%12,ExitCode%6,Elapsed%10)"
echo "$srecords" | sed 's/^/    sacct: /'
check "too-short job: not requeued (one record)" test "$(echo "$srecords" | grep -c .)" -eq 1
check "too-short job: not killed by Slurm (no TIMEOUT)" bash -c "! echo '$srecords' | grep -q TIMEOUT"
check "too-short job: ended with exit code 76" bash -c "echo '$srecords' | grep -q -E 'FAILED +76:0'"
check "too-short job: deeprfm abandoned the layer in flight and said so" \
  grep -q "abandoning layer 1" "deeprfm-run-$short.out"
check "too-short job: the job script says why it does not requeue" \
  grep -q "no layer fits in this job's time limit" "deeprfm-run-$short.out"
sed -n '1,200p' "deeprfm-run-$short.out" | grep -E 'deeprfm(-jobs)?:' | head -n 12
finish
