# shellcheck shell=bash
# jobs/common.sh — functions shared by the Slurm batch scripts and their local twins. Sourced
# after jobs/site.sh. Launching, the resume/requeue contract and result collection live here
# once, so the cluster scripts and the local twins run the same code.
#
# Contract with deeprfm (checkpoint/--resume):
#   * on DEEPRFM_STOP_SIGNAL (Slurm sends it 300 s before the time limit) deeprfm writes a
#     checkpoint and exits with 75 (EX_TEMPFAIL);
#   * `deeprfm --resume FILE` continues the run whose results file is FILE.
# So: exit 75 -> requeue (Slurm: scontrol requeue; locally: run again); and at start, a results
# file whose /checkpoint says it is not complete is resumed, a complete one is skipped
# (docs/checkpointing.md).

DEEPRFM_EX_TEMPFAIL=75

# Print the message on stderr with a prefix.
jobs_log() { echo "deeprfm-jobs: $*" >&2; }

# missing | incomplete | complete, for one results file.
results_state() {
  local file="$1"
  if [ ! -e "$file" ]; then echo missing; return 0; fi
  if "$DEEPRFM_PYTHON" -c 'import h5py' 2>/dev/null; then
    "$DEEPRFM_PYTHON" "$DEEPRFM_REPO/tools/deeprfm_collect.py" --status "$file"
  elif command -v h5dump >/dev/null; then
    # /checkpoint/complete = 1 once every planned layer is in the file (docs/checkpointing.md)
    if h5dump -a /checkpoint/complete "$file" 2>/dev/null | grep -q '(0): 1$'; then
      echo complete
    else
      echo incomplete
    fi
  else
    jobs_log "neither h5py nor h5dump available: treating $file as incomplete"
    echo incomplete
  fi
}

# Start NP ranks of deeprfm with the given arguments: srun inside a Slurm allocation (unless
# DEEPRFM_LAUNCHER=mpirun), mpirun otherwise (the local twins). The launcher replaces the
# calling shell (exec), so that signals sent to that process reach the launcher itself: call it
# in a subshell or in the background, as run_forwarding_signals does.
launch_ranks() {
  local np="$1"; shift
  if [ -n "${SLURM_JOB_ID:-}" ] && [ "$DEEPRFM_LAUNCHER" = srun ]; then
    local -a srun_flags
    read -r -a srun_flags <<<"$DEEPRFM_SRUN_FLAGS"
    exec srun --ntasks="$np" "${srun_flags[@]}" "$DEEPRFM_BIN" "$@"
  else
    local -a flags=(-n "$np" -x OPENBLAS_NUM_THREADS)
    [ -n "${OPENBLAS_CORETYPE:-}" ] && flags+=(-x OPENBLAS_CORETYPE)
    [ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
    # (not nproc: it honours OMP_NUM_THREADS)
    [ "$np" -gt "$(getconf _NPROCESSORS_ONLN)" ] && flags+=(--oversubscribe)
    exec mpirun "${flags[@]}" "$DEEPRFM_BIN" "$@"
  fi
}

# Run launch_ranks in the background and forward DEEPRFM_STOP_SIGNAL (and TERM) to it, so
# that the batch shell (signalled by --signal=B:...) passes the checkpoint request on to the
# ranks (srun and Open MPI's mpirun forward it to every task). Returns the launcher's status.
run_forwarding_signals() {
  local pid rc
  launch_ranks "$@" &
  pid=$!
  # shellcheck disable=SC2064  # expand pid now
  trap "jobs_log 'got the stop signal: passing it to the ranks'; kill -s $DEEPRFM_STOP_SIGNAL $pid 2>/dev/null" "$DEEPRFM_STOP_SIGNAL"
  # shellcheck disable=SC2064
  trap "kill -s TERM $pid 2>/dev/null" TERM
  while :; do
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then continue; fi  # a trap woke us
    break
  done
  trap - "$DEEPRFM_STOP_SIGNAL" TERM
  return "$rc"
}

# Percentage of CPU time the machine spent idle over the next $1 seconds (from /proc/stat).
idle_percent() {
  local _c u n s i w q sq st t1 i1 t2 i2
  read -r _c u n s i w q sq st _ </proc/stat
  t1=$((u + n + s + i + w + q + sq + st)); i1=$((i + w))
  sleep "${1:-2}"
  read -r _c u n s i w q sq st _ </proc/stat
  t2=$((u + n + s + i + w + q + sq + st)); i2=$((i + w))
  echo $((100 * (i2 - i1) / (t2 - t1 > 0 ? t2 - t1 : 1)))
}

# On a shared workstation: with DEEPRFM_WAIT_IDLE=PCT, wait (at most DEEPRFM_WAIT_IDLE_MAX
# seconds, default 600) until the machine is at least PCT% idle before starting a run, so that
# timings are not those of a machine busy with other work. Logs what it saw.
wait_for_idle() {
  local want="${DEEPRFM_WAIT_IDLE:-}" waited=0 idle
  [ -z "$want" ] && return 0
  while :; do
    idle="$(idle_percent 2)"
    if [ "$idle" -ge "$want" ]; then
      jobs_log "machine ${idle}% idle (wanted ${want}%) after ${waited} s: starting"
      return 0
    fi
    waited=$((waited + 2))
    if [ "$waited" -ge "${DEEPRFM_WAIT_IDLE_MAX:-600}" ]; then
      jobs_log "machine still only ${idle}% idle after ${waited} s: starting anyway (timings will be noisy)"
      return 0
    fi
    sleep 3; waited=$((waited + 3))
  done
}

# run_resumable NP OUTPUT ARGS...: one deeprfm run writing OUTPUT, following the contract above.
# Complete OUTPUT: skipped. Incomplete: `--resume OUTPUT`. Missing: ARGS --output OUTPUT.
# Exit 75: in Slurm, requeue this job (bounded by DEEPRFM_MAX_REQUEUES) and return 0; locally,
# run again with --resume (same bound). Any other failure is returned as is.
run_resumable() {
  local np="$1" output="$2"; shift 2
  local attempt=0 rc state
  mkdir -p "$(dirname "$output")"
  [ -z "${SLURM_JOB_ID:-}" ] && wait_for_idle
  jobs_log "$(date -u +%FT%TZ) $(hostname): load average $(cut -d' ' -f1-3 /proc/loadavg)"
  while :; do
    state="$(results_state "$output")"
    case "$state" in
      complete)
        jobs_log "$output is complete: nothing to do"
        return 0 ;;
      incomplete)
        jobs_log "$output is incomplete: resuming it"
        rc=0; run_forwarding_signals "$np" --resume "$output" || rc=$? ;;
      *)
        rc=0; run_forwarding_signals "$np" "$@" --output "$output" || rc=$? ;;
    esac
    if [ "$rc" -ne "$DEEPRFM_EX_TEMPFAIL" ]; then
      [ "$rc" -ne 0 ] && jobs_log "deeprfm failed with exit code $rc ($output)"
      return "$rc"
    fi
    if [ -n "${SLURM_JOB_ID:-}" ]; then
      local restarts="${SLURM_RESTART_COUNT:-0}"
      if [ "$restarts" -ge "$DEEPRFM_MAX_REQUEUES" ]; then
        jobs_log "checkpointed, but already requeued $restarts times: giving up (resubmit to continue)"
        return "$rc"
      fi
      jobs_log "checkpointed (exit 75): requeueing job $SLURM_JOB_ID (restart $((restarts + 1)))"
      scontrol requeue "$SLURM_JOB_ID"
      return 0
    fi
    attempt=$((attempt + 1))
    if [ "$attempt" -gt "$DEEPRFM_MAX_REQUEUES" ]; then
      jobs_log "checkpointed $attempt times: giving up"
      return "$rc"
    fi
    jobs_log "checkpointed (exit 75): running again with --resume (attempt $attempt)"
  done
}

# Common deeprfm options of the studies (block size, data folder for the IDX sets).
study_args() {
  local data="$1"
  local -a a=(--data "$data" --block-size "$BLOCK_SIZE")
  case "$data" in
    fashion-mnist|mnist|cifar10) a+=(--data-dir "$DEEPRFM_DATA_DIR") ;;
  esac
  printf '%s\n' "${a[@]}"
}

# collect STUDY RESULTS_DIR OUT_DIR: run the collection tool.
collect() {
  local study="$1" results="$2" out="$3"
  if ! "$DEEPRFM_PYTHON" -c 'import h5py, matplotlib' 2>/dev/null; then
    jobs_log "$DEEPRFM_PYTHON lacks h5py/matplotlib (Debian: python3-h5py python3-matplotlib): not collecting"
    return 1
  fi
  MPLBACKEND=Agg "$DEEPRFM_PYTHON" "$DEEPRFM_REPO/tools/deeprfm_collect.py" "$results" \
    --out "$out" --study "$study"
}
