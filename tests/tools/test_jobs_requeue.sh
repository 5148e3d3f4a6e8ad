#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034  # checks are eval'ed strings that use these variables
# The checkpoint/requeue logic of jobs/common.sh (run_resumable), locally with mpirun and a stub
# in place of deeprfm that follows the contract of docs/checkpointing.md: on the stop signal it
# leaves a results file whose /checkpoint says complete = 0 and exits 75; `--resume FILE` sets
# it to 1. Checks: the signal reaches the ranks through the batch shell, exit 75 leads to a run
# with --resume, a complete file is skipped.
#   usage: test_jobs_requeue.sh REPO [PYTHON]      (prints 'N passed, N failed'; exit 0 iff none failed)
set -uo pipefail
repo="${1:?repo}"
python="${2:-/usr/bin/python3}"
if ! "$python" -c 'import h5py' 2>/dev/null; then
  echo "test_jobs_requeue: $python has no h5py: skipped"; exit 0
fi
command -v mpirun >/dev/null || { echo "test_jobs_requeue: no mpirun: skipped"; exit 0; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/stub-deeprfm" <<STUB
#!/usr/bin/env bash
# Stub deeprfm: see test_jobs_requeue.sh.
echo "stub \$*" >>"$tmp/calls.log"
out=""; resume=""
while [ \$# -gt 0 ]; do
  case "\$1" in --output) out="\$2"; shift ;; --resume) resume="\$2"; shift ;; esac
  shift
done
if [ -n "\$resume" ]; then
  "$python" -c 'import h5py,sys; h5py.File(sys.argv[1],"a")["checkpoint"].attrs["complete"]=1' "\$resume"
  exit 0
fi
"$python" -c 'import h5py,sys; h5py.File(sys.argv[1],"w").create_group("checkpoint").attrs["complete"]=0' "\$out"
trap 'exit 75' USR1
for _ in \$(seq 100); do sleep 0.1; done
exit 0
STUB
chmod +x "$tmp/stub-deeprfm"

passed=0; failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $1"; fi; }

export DEEPRFM_REPO="$repo" DEEPRFM_BIN="$tmp/stub-deeprfm" DEEPRFM_PYTHON="$python"
export DEEPRFM_LAUNCHER=mpirun DEEPRFM_LOCAL=1
unset SLURM_JOB_ID
# shellcheck source=/dev/null
source "$repo/jobs/site.sh"
# shellcheck source=/dev/null
source "$repo/jobs/common.sh"
export OPENBLAS_NUM_THREADS=1

# 1. Signal -> exit 75 -> rerun with --resume -> complete.
( run_resumable 1 "$tmp/out.h5" --data synthetic ) >"$tmp/run1.log" 2>&1 &
runner=$!
for _ in $(seq 50); do [ -e "$tmp/out.h5" ] && break; sleep 0.1; done
sleep 0.5
kill -s USR1 "$runner"
wait "$runner"; rc=$?
check "run_resumable returns 0 after checkpoint + resume (rc $rc)" '[ "$rc" -eq 0 ]'
check "the stub was resumed" 'grep -q -- "--resume $tmp/out.h5" "$tmp/calls.log"'
check "the log says it checkpointed" 'grep -q "checkpointed (exit 75)" "$tmp/run1.log"'
check "the file is complete" '[ "$(results_state "$tmp/out.h5")" = complete ]'

# 2. A complete file is not run again.
calls_before="$(wc -l <"$tmp/calls.log")"
run_resumable 1 "$tmp/out.h5" --data synthetic >"$tmp/run2.log" 2>&1; rc=$?
check "complete file: rc 0" '[ "$rc" -eq 0 ]'
check "complete file: deeprfm not started" '[ "$(wc -l <"$tmp/calls.log")" -eq "$calls_before" ]'

# 3. An incomplete file left by an earlier job is resumed at start.
"$python" -c 'import h5py,sys; h5py.File(sys.argv[1],"w").create_group("checkpoint").attrs["complete"]=0' "$tmp/left.h5"
run_resumable 1 "$tmp/left.h5" --data synthetic >"$tmp/run3.log" 2>&1; rc=$?
check "incomplete file at start: resumed (rc $rc)" '[ "$rc" -eq 0 ] && grep -q -- "--resume $tmp/left.h5" "$tmp/calls.log"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
