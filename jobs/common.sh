# shellcheck shell=bash
# jobs/common.sh — functions shared by the Slurm batch scripts and their local twins. Sourced
# after jobs/site.sh. Launching, the resume/requeue contract and result collection live here
# once, so the cluster scripts and the local twins run the same code.
#
# Contract with deeprfm (docs/checkpointing.md):
#   * `deeprfm --continue --output FILE OPTIONS` starts the run, continues FILE when it holds
#     this very run ("nothing to do" when complete), and refuses (exit 2) a FILE of another run;
#   * it plans its layers against SLURM_JOB_END_TIME and stops before the limit with exit 75
#     (checkpoint intact), or 76 when no layer fits in the time left;
#   * on SIGUSR1 (DEEPRFM_STOP_SIGNAL) it checkpoints and exits 75.
# So: exit 75 with a new layer -> requeue (Slurm: scontrol requeue; locally: return 75); 75
# without one, or 76 -> stop, saying why.

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

# The number of complete layers in a results file (0 when it is missing or unreadable).
completed_layers() {
  local file="$1" n=""
  [ -e "$file" ] || { echo 0; return 0; }
  if command -v h5dump >/dev/null; then
    n="$(h5dump -a /checkpoint/completed_layers "$file" 2>/dev/null | sed -n 's/.*(0): *\([0-9][0-9]*\).*/\1/p' | head -n 1)"
  fi
  if [ -z "$n" ] && "$DEEPRFM_PYTHON" -c 'import h5py' 2>/dev/null; then
    n="$("$DEEPRFM_PYTHON" -c 'import h5py, sys
try:
    print(int(h5py.File(sys.argv[1], "r")["checkpoint"].attrs["completed_layers"]))
except Exception:
    print(0)' "$file" 2>/dev/null)"
  fi
  echo "${n:-0}"
}

# Inside a Slurm job: export SLURM_JOB_END_TIME (Unix time at which Slurm ends the job; Slurm
# 22.05 does not set it itself) from squeue, so that deeprfm plans its layers against the time
# limit and abandons a layer that would run past it (docs/checkpointing.md, "Time limits").
export_job_end_time() {
  [ -n "${SLURM_JOB_ID:-}" ] || return 0
  if [ -z "${SLURM_JOB_END_TIME:-}" ]; then
    local end epoch
    end="$(squeue -h -j "$SLURM_JOB_ID" -o %e 2>/dev/null | head -n 1)"
    if [ -n "$end" ] && epoch="$(date -d "$end" +%s 2>/dev/null)"; then
      export SLURM_JOB_END_TIME="$epoch"
    else
      jobs_log "could not read the end time of job $SLURM_JOB_ID from squeue ('$end'): relying on the stop signal alone"
      return 0
    fi
  fi
  jobs_log "job $SLURM_JOB_ID ends at $(date -u -d "@$SLURM_JOB_END_TIME" +%FT%TZ) ($((SLURM_JOB_END_TIME - $(date +%s))) s from now)"
}

# Start NP ranks of deeprfm with the given arguments: srun inside a Slurm allocation (unless
# DEEPRFM_LAUNCHER=mpirun), mpirun otherwise (the local twins). The launcher replaces the
# calling shell (exec), so that signals sent to that process reach the launcher itself: call it
# in a subshell or in the background, as run_forwarding_signals does. With DEEPRFM_PRINT_ONLY=1
# it prints the command line instead (jobs/submit.sh's DRY_RUN).
launch_ranks() {
  local np="$1"; shift
  local -a cmd
  if [ -n "${SLURM_JOB_ID:-}" ] && [ "$DEEPRFM_LAUNCHER" = srun ]; then
    local -a srun_flags
    read -r -a srun_flags <<<"$DEEPRFM_SRUN_FLAGS"
    # --kill-on-bad-exit: a task that dies (SIGKILL, OOM killer) or that deeprfm's peer watch
    # ends (exit 75) ends the whole step at once; Slurm 22.05 would otherwise leave the other
    # tasks running, a stopped one for ever (docs/checkpointing.md, "A rank lost").
    cmd=(srun --ntasks="$np" --kill-on-bad-exit=1 "${srun_flags[@]}" "$DEEPRFM_BIN" "$@")
  else
    local -a flags=(-n "$np" -x OPENBLAS_NUM_THREADS)
    [ -n "${OPENBLAS_CORETYPE:-}" ] && flags+=(-x OPENBLAS_CORETYPE)
    [ -n "${SLURM_JOB_END_TIME:-}" ] && flags+=(-x SLURM_JOB_END_TIME)
    [ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
    # More ranks than cores: only outside an allocation (Slurm gives mpirun its slots).
    # (not nproc: it honours OMP_NUM_THREADS)
    [ -z "${SLURM_JOB_ID:-}" ] && [ "$np" -gt "$(getconf _NPROCESSORS_ONLN)" ] && flags+=(--oversubscribe)
    local -a mpirun_flags
    read -r -a mpirun_flags <<<"${DEEPRFM_MPIRUN_FLAGS:-}"
    cmd=(mpirun "${flags[@]}" "${mpirun_flags[@]}" "$DEEPRFM_BIN" "$@")
  fi
  if [ "${DEEPRFM_PRINT_ONLY:-0}" = 1 ]; then
    printf '%q ' "${cmd[@]}"; echo
    return 0
  fi
  exec "${cmd[@]}"
}

# forward_stop SIGNAL PID: the batch shell's trap. Slurm's time-limit warning
# (--signal=B:USR1@DEEPRFM_SIGNAL_LEAD) arrives up to a minute earlier than asked; when deeprfm
# knows the job's end time (SLURM_JOB_END_TIME) it plans its layers and stops before the limit
# by itself, so that warning is not passed on (it would throw away a layer that still fits).
# Every other stop request (TERM, INT, or the stop signal at another time) is.
forward_stop() {
  local sig="$1" pid="$2" now
  now="$(date +%s)"
  if [ "$sig" = "$DEEPRFM_STOP_SIGNAL" ] && [ -n "${SLURM_JOB_END_TIME:-}" ] &&
     [ "$now" -ge $((SLURM_JOB_END_TIME - ${DEEPRFM_SIGNAL_LEAD:-90} - 60)) ]; then
    jobs_log "got SIG$sig $((SLURM_JOB_END_TIME - now)) s before the time limit: Slurm's warning; deeprfm stops by itself before the limit"
    return 0
  fi
  jobs_log "got SIG$sig: asking the ranks to checkpoint and stop (SIG$DEEPRFM_STOP_SIGNAL)"
  STOP_FORWARDED=1
  kill -s "$DEEPRFM_STOP_SIGNAL" "$pid" 2>/dev/null
}

# Run launch_ranks in the background and turn every stop request the batch shell receives
# (DEEPRFM_STOP_SIGNAL, which Slurm sends before the time limit with --signal=B:..., and TERM,
# INT and USR1: scancel, preemption, Ctrl-C) into DEEPRFM_STOP_SIGNAL for the launcher. srun and
# Open MPI's mpirun forward SIGUSR1 to every rank and return the ranks' exit code (75), whereas
# mpirun answers SIGTERM/SIGINT by killing the ranks and exiting 1 (docs/checkpointing.md).
# Sets STOP_FORWARDED=1 when it passed a signal on. Returns the launcher's status.
run_forwarding_signals() {
  local pid rc sig
  STOP_FORWARDED=0
  launch_ranks "$@" &
  pid=$!
  for sig in "$DEEPRFM_STOP_SIGNAL" TERM INT USR1; do
    # shellcheck disable=SC2064  # expand pid and sig now
    trap "forward_stop $sig $pid" "$sig"
  done
  while :; do
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then continue; fi  # a trap woke us
    break
  done
  trap - "$DEEPRFM_STOP_SIGNAL" TERM INT USR1
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

# Exit code of deeprfm when the next layer cannot finish in the job's remaining time and no
# layer was completed in this job: requeueing with the same time limit would not advance.
DEEPRFM_EX_NO_TIME=76

# run_resumable NP OUTPUT ARGS...: one deeprfm run writing OUTPUT, following the contract above:
# `deeprfm --continue --output OUTPUT ARGS` starts the run, continues an incomplete OUTPUT, or
# leaves a complete one alone — and refuses (exit 2, naming the options) an OUTPUT that holds a
# run with other options, so that a changed experiment never passes for a finished one.
# Exit 75 after at least one new layer: in Slurm, requeue this job (bounded by
# DEEPRFM_MAX_REQUEUES) and return 0; locally (a Ctrl-C, a stop signal) return 75. Exit 75 with
# no new layer, or 76: the time limit is too short for one layer; not requeued, return 76.
# Any other failure is returned as is.
run_resumable() {
  local np="$1" output="$2"; shift 2
  local rc before after
  if [ "${DEEPRFM_PRINT_ONLY:-0}" = 1 ]; then
    launch_ranks "$np" --continue --output "$output" "$@"
    return 0
  fi
  mkdir -p "$(dirname "$output")"
  [ -z "${SLURM_JOB_ID:-}" ] && wait_for_idle
  export_job_end_time
  jobs_log "$(date -u +%FT%TZ) $(hostname): load average $(cut -d' ' -f1-3 /proc/loadavg)"
  before="$(completed_layers "$output")"
  rc=0
  run_forwarding_signals "$np" --continue --output "$output" "$@" || rc=$?
  after="$(completed_layers "$output")"
  jobs_log "deeprfm exited with code $rc; $output holds $after complete layer(s) (before: $before)"
  # Stopped without a new layer: requeueing would only repeat that (a time limit shorter than
  # one layer, or a stop request right at the start).
  if [ "$rc" -eq "$DEEPRFM_EX_TEMPFAIL" ] && [ -n "${SLURM_JOB_ID:-}" ] && [ "$after" -le "$before" ]; then
    rc="$DEEPRFM_EX_NO_TIME"
  fi
  case "$rc" in
    0) return 0 ;;
    "$DEEPRFM_EX_NO_TIME")
      if [ "$STOP_FORWARDED" = 1 ]; then
        jobs_log "stopped (a stop signal reached the job) before completing a layer in this job: not requeueing; if it was the time limit, no layer fits in this job's time limit: resubmit with a longer time limit (DEEPRFM_TIME) or more nodes"
      else
        jobs_log "no layer fits in this job's time limit (see deeprfm's message above): not requeueing; resubmit with a longer time limit (DEEPRFM_TIME) or more nodes"
      fi
      return "$rc" ;;
    "$DEEPRFM_EX_TEMPFAIL") ;;
    *)
      jobs_log "deeprfm failed with exit code $rc ($output)"
      return "$rc" ;;
  esac
  if [ -z "${SLURM_JOB_ID:-}" ]; then
    jobs_log "stopped with a checkpoint after layer $after: continue with the same command"
    return "$rc"
  fi
  local restarts="${SLURM_RESTART_COUNT:-0}"
  if [ "$restarts" -ge "$DEEPRFM_MAX_REQUEUES" ]; then
    jobs_log "checkpointed, but already requeued $restarts times: giving up (resubmit to continue)"
    return "$rc"
  fi
  jobs_log "checkpointed after layer $after (exit 75): requeueing job $SLURM_JOB_ID (restart $((restarts + 1)))"
  scontrol requeue "$SLURM_JOB_ID"
  return 0
}

# The deeprfm options of a data set: --data, and its folder for the IDX/CIFAR sets. Every data
# set has its own folder setting (jobs/site.sh), so that one cannot run in place of another;
# MNIST and CIFAR-10 have no default and are refused without one.
study_args() {
  local data="$1" dir=""
  local -a a=(--data "$data" --block-size "$BLOCK_SIZE")
  case "$data" in
    fashion-mnist) dir="$DEEPRFM_FASHION_MNIST_DIR" ;;
    mnist) dir="$DEEPRFM_MNIST_DIR" ;;
    cifar10) dir="$DEEPRFM_CIFAR10_DIR" ;;
  esac
  case "$data" in
    fashion-mnist|mnist|cifar10)
      local var
      var="DEEPRFM_$(echo "$data" | tr 'a-z-' 'A-Z_')_DIR"
      if [ -z "$dir" ]; then
        jobs_log "--data $data needs its folder: set $var (jobs/site.sh) to the folder of its files"
        return 2
      fi
      if [ ! -d "$dir" ]; then
        jobs_log "$var=$dir is not a folder"
        return 2
      fi
      a+=(--data-dir "$dir") ;;
  esac
  printf '%s\n' "${a[@]}"
}

# options_digest ARGS...: 8 hex digits that identify a list of deeprfm options (part of the
# results file names, so that runs with different options never share a file).
options_digest() {
  printf '%s\n' "$@" | sha256sum | cut -c1-8
}

# digest_of FUNCTION ARGS...: options_digest of the options FUNCTION prints (one per line).
digest_of() {
  local text
  text="$("$@")" || return 2
  printf '%s\n' "$text" | sha256sum | cut -c1-8
}

# job_args DATA EXTRA OPTIONS...: the deeprfm options of a job, one per line: the data set's
# (study_args), OPTIONS, then the words of EXTRA (the user's *_EXTRA variable).
job_args() {
  local data="$1" extra_text="$2"; shift 2
  local common
  local -a extra
  read -r -a extra <<<"$extra_text"
  common="$(study_args "$data")" || return 2
  printf '%s\n' "$common" "$@" "${extra[@]}"
}

# The deeprfm options of each kind of job, from the variables of jobs/studies.sh. The batch
# scripts and jobs/submit.sh's DRY_RUN call the same functions, so that a dry run prints
# exactly what the job will run.
run_job_args() {
  job_args "$RUN_DATA" "$RUN_EXTRA" --n "$RUN_N" --n-test "$RUN_N_TEST" --layers "$RUN_LAYERS" \
    --width "$RUN_WIDTH" --kernel "$RUN_KERNEL" --seed "$RUN_SEED"
}

seed_job_args() {
  job_args "$SEEDS_DATA" "$SEEDS_EXTRA" --n "$SEEDS_N" --n-test "$SEEDS_N_TEST" \
    --layers "$SEEDS_LAYERS" --width "$SEEDS_WIDTH" --seed "$1" --save-features "$2"
}

point_job_args() {
  job_args "${POINT_DATA:?}" "${POINT_ARGS:-}" --n "${POINT_N:?}" --n-test "${POINT_N_TEST:?}" \
    --layers "${POINT_LAYERS:?}" --width "${POINT_WIDTH:?}" --save-features none
}

# The results file of jobs/run.sbatch: RUN_OUTPUT, or a name made of the main options and the
# digest of all of them.
run_job_output() {
  local digest
  digest="$(digest_of run_job_args)" || return 2
  echo "${RUN_OUTPUT:-$DEEPRFM_RESULTS/run/${RUN_DATA}-n${RUN_N}-L${RUN_LAYERS}-D${RUN_WIDTH}-${RUN_KERNEL}-seed${RUN_SEED}-$digest.h5}"
}

# The folder of a seeds study: the main options and the digest of the options every seed shares.
seeds_study_dir() {
  local digest
  digest="$(digest_of seed_job_args 0 last)" || return 2
  echo "${SEEDS_DIR:-$DEEPRFM_RESULTS/seeds/${SEEDS_DATA}-n${SEEDS_N}-L${SEEDS_LAYERS}-D${SEEDS_WIDTH}-$digest}"
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
