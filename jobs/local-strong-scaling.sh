#!/usr/bin/env bash
# Local twin of the strong-scaling study (jobs/submit.sh strong): the same problem (fixed n) on
# 1, 2 and 4 MPI ranks of this machine (4 oversubscribed on 2 cores), then the collection tool:
#   bash jobs/local-strong-scaling.sh [OUT_DIR]      (default results/local/strong)
# Sizes: STRONG_* in jobs/studies.sh (override from the environment, e.g. STRONG_N=2000);
# REPEATS=N runs each point N times and the plots use the fastest (the machine is shared).
# Writes OUT_DIR/runs/*.h5, OUT_DIR/logs/*.log, OUT_DIR/plots/{strong_scaling,strong_phases}.{png,pdf,csv}.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/local-env.sh
source "$here/local-env.sh"
out="$(local_study_dir strong "${1:-}")"
read -r -a extra <<<"$STRONG_EXTRA"
common_text="$(study_args "$STRONG_DATA")" || exit 2
mapfile -t common <<<"$common_text"
for rep in $(seq "${REPEATS:-1}"); do   # REPEATS=3: rounds over all P; best of 3 per P
  for p in $STRONG_RANKS; do
    name="strong-P$p-r$rep"
    jobs_log "strong scaling: $p rank(s), n = $STRONG_N, repeat $rep"
    run_resumable "$p" "$out/runs/$name.h5" "${common[@]}" --n "$STRONG_N" \
      --n-test "$STRONG_N_TEST" --layers "$STRONG_LAYERS" --width "$STRONG_WIDTH" \
      --save-features none "${extra[@]}" >"$out/logs/$name.log" 2>&1 ||
      { tail -n 5 "$out/logs/$name.log" >&2; exit 1; }
  done
done
collect strong "$out/runs" "$out/plots" | tee "$out/plots/summary.txt"
# The performance model of docs/scaling.md against these runs (calibrated on the 1-rank run).
"$DEEPRFM_PYTHON" "$DEEPRFM_REPO/tools/perf_model.py" compare "$out/runs" --out "$out/plots" \
  | tee "$out/plots/model_vs_measured.md"
jobs_log "plots and CSV in $out/plots"
