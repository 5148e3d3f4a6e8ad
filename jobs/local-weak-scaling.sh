#!/usr/bin/env bash
# Local twin of the weak-scaling study (jobs/submit.sh weak): synthetic data on 1, 2 and 4 MPI
# ranks with n growing so that n^2 / P stays constant, then the collection tool:
#   bash jobs/local-weak-scaling.sh [OUT_DIR]        (default results/local/weak)
# Sizes: WEAK_* in jobs/studies.sh; REPEATS=N keeps the fastest of N runs per point. Writes OUT_DIR/runs, logs and plots/{weak_scaling,weak_phases}.*
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/local-env.sh
source "$here/local-env.sh"
out="$(local_study_dir weak "${1:-}")"
read -r -a extra <<<"$WEAK_EXTRA"
mapfile -t common < <(study_args synthetic)
for rep in $(seq "${REPEATS:-1}"); do   # REPEATS=3: rounds over all P; best of 3 per P
  for p in $WEAK_RANKS; do
    n="$(weak_n_for "$p")"
    name="weak-P$p-r$rep"
    jobs_log "weak scaling: $p rank(s), n = $n, repeat $rep"
    run_resumable "$p" "$out/runs/$name.h5" "${common[@]}" --n "$n" --n-test "$WEAK_N_TEST" \
      --dim "$WEAK_DIM" --layers "$WEAK_LAYERS" --width "$WEAK_WIDTH" --save-features none \
      "${extra[@]}" >"$out/logs/$name.log" 2>&1 ||
      { tail -n 5 "$out/logs/$name.log" >&2; exit 1; }
  done
done
collect weak "$out/runs" "$out/plots" | tee "$out/plots/summary.txt"
# The performance model of docs/scaling.md against these runs (calibrated on the 1-rank run).
"$DEEPRFM_PYTHON" "$DEEPRFM_REPO/tools/perf_model.py" compare "$out/runs" --out "$out/plots" \
  | tee "$out/plots/model_vs_measured.md"
jobs_log "plots and CSV in $out/plots"
