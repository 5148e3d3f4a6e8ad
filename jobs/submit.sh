#!/usr/bin/env bash
# Submit deeprfm work to Slurm with the settings of jobs/site.sh (account, partition, limits)
# and the sizes of jobs/studies.sh (override any of them from the environment):
#   bash jobs/submit.sh run    [NODES]   one run (RUN_* variables), checkpoint + requeue
#   bash jobs/submit.sh seeds            job array over SEEDS (SEEDS_* variables) + collection
#   bash jobs/submit.sh strong           STRONG_N on each of STRONG_NODES node counts + collection
#   bash jobs/submit.sh weak             synthetic, n = WEAK_N1 sqrt(P) on WEAK_NODES + collection
#   DRY_RUN=1 bash jobs/submit.sh strong prints the sbatch commands instead of running them.
# Results: $DEEPRFM_RESULTS/<study>/{runs,plots}; the local twins are jobs/local-*.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEEPRFM_REPO="${DEEPRFM_REPO:-$(cd "$here/.." && pwd)}"
# shellcheck source=SCRIPTDIR/site.sh
source "$here/site.sh"
# shellcheck source=SCRIPTDIR/studies.sh
source "$here/studies.sh"

study="${1:-}"
cores="$DEEPRFM_CORES_PER_NODE"
node_flags=(--ntasks-per-node="$cores" --mem="$DEEPRFM_MEM_PER_NODE" --export=ALL)

# sbatch ARGS...: prints the job id (or the command, with DRY_RUN=1).
submit() {
  if [ "${DRY_RUN:-0}" = 1 ]; then
    echo "sbatch $*" >&2
    echo "$((RANDOM + 1000))"
  else
    sbatch --parsable "$@" | cut -d';' -f1
  fi
}

# collect_after STUDY DIR JOBIDS...: the collection job, once the study's jobs have ended.
collect_after() {
  local study_name="$1" dir="$2"; shift 2
  local deps
  deps="$(IFS=:; echo "$*")"
  COLLECT_STUDY="$study_name" COLLECT_DIR="$dir" \
    submit --dependency="afterany:$deps" --export=ALL "$here/collect.sbatch"
}

# scaling_point NODES OUTPUT DATA N N_TEST LAYERS WIDTH ARGS
scaling_point() {
  POINT_OUTPUT="$2" POINT_DATA="$3" POINT_N="$4" POINT_N_TEST="$5" POINT_LAYERS="$6" \
    POINT_WIDTH="$7" POINT_ARGS="$8" \
    submit --nodes="$1" "${node_flags[@]}" --time="$DEEPRFM_TIME" \
    --job-name="deeprfm-$(basename "$2" .h5)" "$here/scaling-point.sbatch"
}

case "$study" in
  run)
    nodes="${2:-1}"
    id="$(submit --nodes="$nodes" "${node_flags[@]}" --time="$DEEPRFM_TIME" "$here/run.sbatch")"
    echo "submitted run: job $id" ;;
  seeds)
    dir="$DEEPRFM_RESULTS/seeds/${SEEDS_DATA}-n${SEEDS_N}-L${SEEDS_LAYERS}-D${SEEDS_WIDTH}"
    list="$(echo "$SEEDS" | tr -s ' ' ',')"
    id="$(SEEDS_DIR="$dir" submit --array="$list" --nodes="$SEEDS_NODES" "${node_flags[@]}" \
      --time="$DEEPRFM_SEEDS_TIME" "$here/seeds.sbatch")"
    cid="$(collect_after seeds "$dir" "$id")"
    echo "submitted seeds: array $id, collection $cid -> $dir/plots" ;;
  strong)
    dir="$DEEPRFM_RESULTS/strong/${STRONG_DATA}-n${STRONG_N}"
    ids=()
    for nodes in $STRONG_NODES; do
      ids+=("$(scaling_point "$nodes" "$dir/runs/strong-N${nodes}-P$((nodes * cores)).h5" \
        "$STRONG_DATA" "$STRONG_N" "$STRONG_N_TEST" "$STRONG_LAYERS" "$STRONG_WIDTH" "$STRONG_EXTRA")")
    done
    cid="$(collect_after strong "$dir" "${ids[@]}")"
    echo "submitted strong scaling: jobs ${ids[*]}, collection $cid -> $dir/plots" ;;
  weak)
    dir="$DEEPRFM_RESULTS/weak/synthetic-n1-${WEAK_N1}"
    ids=()
    for nodes in $WEAK_NODES; do
      p=$((nodes * cores))
      n="$(weak_n_for "$nodes")"   # n^2 / nodes constant (per node: ranks per node fixed)
      ids+=("$(scaling_point "$nodes" "$dir/runs/weak-N${nodes}-P${p}.h5" synthetic "$n" \
        "$WEAK_N_TEST" "$WEAK_LAYERS" "$WEAK_WIDTH" "--dim $WEAK_DIM $WEAK_EXTRA")")
    done
    cid="$(collect_after weak "$dir" "${ids[@]}")"
    echo "submitted weak scaling: jobs ${ids[*]}, collection $cid -> $dir/plots" ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2 ;;
esac
