#!/usr/bin/env bash
# A node crashes under a running 2-node job (tests/slurm/cluster.sh crash-node: SIGKILL to the
# node's slurmd, its step daemons and its ranks, with no warning). The job must end or be
# requeued, the results file must stay intact (the last complete layer, never a torn file),
# and once the node is back the next start must resume from the last complete layer and
# finish with results identical to an uninterrupted run.
#   usage: test_node_failure.sh CLUSTER_DIR REPO BUILD_DIR    (prints 'N passed, N failed')
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/slurm/lib.sh
source "$here/lib.sh" "$1" "$2" "$3" node-failure

submit() { bash "$repo/jobs/submit.sh" "$@"; }
job_id_of() { grep -o -E 'job [0-9]+' "$1" | grep -o -E '[0-9]+' | head -n 1; }

export RUN_N=2000 RUN_N_TEST=500 RUN_LAYERS=8 RUN_WIDTH=256 BLOCK_SIZE=64 DEEPRFM_TIME=00:15:00

# The uninterrupted reference run first, with the same options, ranks and grid, while both nodes
# are healthy (a step launched on the node just after it came back can fail for reasons that
# are the test cluster's, not deeprfm's; that once cost a CI run its reference file).
args_text="$(bash -c "source '$repo/jobs/site.sh'; source '$repo/jobs/studies.sh'; source '$repo/jobs/common.sh'; run_job_args")"
mapfile -t args <<<"$args_text"
ref_rc=0
srun -N 2 -n $((2 * DEEPRFM_CORES_PER_NODE)) --mpi=pmix "$DEEPRFM_BIN" "${args[@]}" --output ref.h5 >ref.log 2>&1 || ref_rc=$?
check "the uninterrupted reference run on 2 nodes succeeded (exit $ref_rc)" test "$ref_rc" -eq 0
[ "$ref_rc" -eq 0 ] || { echo "its output (ref.log), last lines:"; tail -n 30 ref.log | sed 's/^/    /'; }

export RUN_OUTPUT="$work/crashed.h5"
# Every layer holds rank 0 for 2 s in its AGOP (test-only DEEPRFM_FAULT=sleep), so that the run
# is still going when the node crashes, however fast the machine.
DEEPRFM_FAULT='sleep@0:*:agop' DEEPRFM_FAULT_SLEEP=2 submit run 2 >submit1.out 2>&1
cat submit1.out
job="$(job_id_of submit1.out)"

# Wait for a committed layer (the file is replaced atomically, so reading it is safe).
for _ in $(seq 600); do
  [ "$(completed_layers_of "$RUN_OUTPUT")" -ge 2 ] && break
  sleep 0.2
done
layers_at_crash="$(completed_layers_of "$RUN_OUTPUT")"
check "the job ran on 2 nodes and committed layers before the crash ($layers_at_crash)" \
  test "$layers_at_crash" -ge 1
bash "$repo/tests/slurm/cluster.sh" crash-node "$cluster_dir" node2
crash_time="$(date +%s)"
check "node2's slurmd is gone (dead or a zombie)" \
  bash -c "! ps -o stat= -p \$(cat '$cluster_dir/nodes/node2/slurmd.pid') | grep -q -v Z"

# The job must end or be requeued; it must not hang.
state=""
for _ in $(seq 180); do
  state="$(job_state "$job")"
  case "$state" in RUNNING|COMPLETING|CONFIGURING) sleep 1 ;; *) break ;; esac
done
echo "after the crash: job $job is $state ($(($(date +%s) - crash_time)) s); nodes:"
sinfo -N -h -o '    %N %T'
check "the job stopped running within 3 minutes of the crash (state $state)" \
  bash -c "[ '$state' != RUNNING ] && [ '$state' != COMPLETING ]"
layers_after="$(completed_layers_of "$RUN_OUTPUT")"
check "the results file is readable and holds the last complete layer ($layers_after >= $layers_at_crash)" \
  test "$layers_after" -ge "$layers_at_crash"
check "the results file says it is incomplete" \
  bash -c "[ \"\$('$python' '$repo/tools/deeprfm_collect.py' --status '$RUN_OUTPUT')\" = incomplete ]"
check "no layer group beyond the committed layers" \
  "$python" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); sys.exit(len(f['layers']) != int(sys.argv[2]))" "$RUN_OUTPUT" "$layers_after"

# The node comes back; a requeued job starts again by itself, an ended one is resubmitted.
bash "$repo/tests/slurm/cluster.sh" start-node "$cluster_dir" node2
sacct -n -D -X -j "$job" -o JobID%12,State%12,ExitCode%6 | sed 's/^/    sacct: /'
ids=("$job")
if ! scontrol show job "$job" 2>/dev/null | grep -q -E 'JobState=(PENDING|RUNNING|REQUEUED)'; then
  echo "job $job ended ($state): resubmitting the same run"
  submit run 2 >submit2.out 2>&1
  cat submit2.out
  ids+=("$(job_id_of submit2.out)")
fi
sleep 15  # let Slurm clean up the failed run first (a job started at once is killed)
for _ in $(seq 120); do  # Slurm holds requeued jobs for a while: start them now
  for id in "${ids[@]}"; do
    scontrol show job "$id" 2>/dev/null | grep -q 'Reason=BeginTime' && scontrol update jobid="$id" starttime=now 2>/dev/null
  done
  [ "$(job_state "${ids[-1]}")" = PENDING ] || break
  sleep 1
done
wait_jobs 600 "${ids[-1]}"
final="$(sacct_settled -j "${ids[-1]}" -o State%12,ExitCode%6 | tail -n 1)"
check "the run finished after the node came back ($final)" bash -c "echo '$final' | grep -q -E 'COMPLETED +0:0'"
check "it resumed from the last complete layer (did not start over)" \
  grep -q "resuming .* after layer $layers_after of 8" deeprfm-run-"${ids[-1]}".out
check "8 complete layers" test "$(completed_layers_of "$RUN_OUTPUT")" -eq 8

check "final results identical to the uninterrupted run" same_results ref.h5 "$work/crashed.h5" --rtol 0 --layers 8
finish
