#!/usr/bin/env bash
# A lost task under srun (docs/checkpointing.md, "A rank lost: the peer watch"): a 2-node job
# (1 task per node, srun --kill-on-bad-exit=1 --mpi=pmix as jobs/common.sh launches it) whose
# rank 0 is held in layer 2 (DEEPRFM_FAULT=sleep) gets SIGSTOP, then SIGKILL, on task 1 (node2).
# The step must end within seconds (--peer-timeout 4) with one deeprfm line naming rank 1, the
# results file must hold the checkpoint after layer 1, and a resume must finish it to the
# uninterrupted run's results.
#   usage: test_rank_loss.sh CLUSTER_DIR REPO BUILD_DIR    (prints 'N passed, N failed')
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/slurm/lib.sh
source "$here/lib.sh" "$1" "$2" "$3" rank-loss

opts=(--data synthetic --n 700 --n-test 120 --dim 24 --classes 3 --width 48 --seed 7
      --block-size 32 --quiet --layers 3)
run2() { srun -N 2 -n 2 --ntasks-per-node=1 --kill-on-bad-exit=1 --mpi=pmix "$DEEPRFM_BIN" "$@"; }

run2 "${opts[@]}" --output ref.h5 >ref.log 2>&1
check "the uninterrupted reference run on 2 nodes" test $? -eq 0

# pid of the deeprfm task with SLURM_PROCID=$2 writing the file $1 (every node shares /proc here).
task_pid() {
  local p
  for p in $(pgrep -f "deeprfm .*$1"); do
    [ "$(basename "$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -n 1)")" = deeprfm ] || continue
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_PROCID=$2" && { echo "$p"; return; }
  done
}

for sig in STOP KILL; do
  out="$work/$sig.h5"
  DEEPRFM_FAULT=sleep@0:2:agop DEEPRFM_FAULT_SLEEP=40 timeout 60 \
    srun -N 2 -n 2 --ntasks-per-node=1 --kill-on-bad-exit=1 --mpi=pmix "$DEEPRFM_BIN" \
    "${opts[@]}" --peer-timeout 4 --output "$out" >"$sig.log" 2>&1 &
  job=$!
  for _ in $(seq 300); do grep -q "DEEPRFM_FAULT sleep" "$sig.log" && break; sleep 0.2; done
  sleep 0.5
  victim="$(task_pid "$out" 1)"
  t0=$(date +%s%N)
  [ -n "$victim" ] && kill -"$sig" "$victim"
  wait "$job"
  rc=$?
  took=$((($(date +%s%N) - t0) / 1000000))
  [ -n "$victim" ] && { kill -KILL "$victim"; kill -CONT "$victim"; } 2>/dev/null
  echo "SIG$sig of task 1 (pid ${victim:-none}): srun exit $rc after $took ms"
  sed 's/^/    /' "$sig.log"
  limit=$([ "$sig" = STOP ] && echo 9000 || echo 4000)
  check "SIG$sig of task 1: the step ends after $took ms (<= $limit), srun exit $rc (not 124: no hang)" \
    bash -c "[ -n '$victim' ] && [ $took -le $limit ] && [ $rc -ne 124 ]"
  check "... one line naming rank 1, its pid and the checkpoint after layer 1" \
    bash -c "[ \$(grep -c ') is lost: ' '$sig.log') -eq 1 ] && grep -q 'deeprfm: rank 1 (host [^,]*, pid $victim) is lost: .*the checkpoint after layer 1 in $out is intact' '$sig.log'"
  check "... the file holds the checkpoint after layer 1" test "$(completed_layers_of "$out")" -eq 1
  run2 --resume "$out" >"$sig-resume.log" 2>&1
  check "... the resume on 2 nodes finishes it (exit $?)" test "$(completed_layers_of "$out")" -eq 3
  check "... to the uninterrupted run's results" same_results ref.h5 "$out" --rtol 1e-10
done
finish
