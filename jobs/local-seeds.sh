#!/usr/bin/env bash
# Local twin of the multi-seed job array (jobs/seeds.sbatch): Fashion-MNIST with several seeds
# of the random feature maps, then Figure 3 (NC1/NC2 per layer, mean and min-max over seeds) and
# Figure 2 (Gram matrices of the features of the first seed, saved at every layer):
#   bash jobs/local-seeds.sh [OUT_DIR]               (default results/local/seeds)
# Sizes: SEEDS_* in jobs/studies.sh (SEEDS="1 2 3", SEEDS_RANKS=2, n = 2000, 8 layers).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/local-env.sh
source "$here/local-env.sh"
out="$(local_study_dir seeds "${1:-}")"
first=1
for seed in $SEEDS; do
  save=last
  [ "$first" = 1 ] && save=all   # Figure 2 needs every layer's features of one seed
  first=0
  args_text="$(seed_job_args "$seed" "$save")" || exit 2
  mapfile -t args <<<"$args_text"
  jobs_log "seeds: seed $seed on $SEEDS_RANKS rank(s)"
  run_resumable "$SEEDS_RANKS" "$out/runs/seed-$seed.h5" "${args[@]}" \
    >"$out/logs/seed-$seed.log" 2>&1 || { tail -n 5 "$out/logs/seed-$seed.log" >&2; exit 1; }
done
collect seeds "$out/runs" "$out/plots" | tee "$out/plots/summary.txt"
jobs_log "plots and CSV in $out/plots"
