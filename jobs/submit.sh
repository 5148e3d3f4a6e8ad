#!/usr/bin/env bash
# Submit deeprfm work to Slurm with the settings of jobs/site.sh (account, partition, limits)
# and the sizes of jobs/studies.sh (override any of them from the environment):
#   bash jobs/submit.sh run    [NODES]   one run (RUN_* variables), checkpoint + requeue
#   bash jobs/submit.sh seeds            job array over SEEDS (SEEDS_* variables) + collection
#   bash jobs/submit.sh strong           STRONG_N on each of STRONG_NODES node counts + collection
#   bash jobs/submit.sh weak             synthetic, n = WEAK_N1 sqrt(P) on WEAK_NODES + collection
#   DRY_RUN=1 bash jobs/submit.sh ...    prints every sbatch command line and the deeprfm command
#                                        line each job will run; submits nothing
# Results: $DEEPRFM_RESULTS/<study>/<experiment>-<digest>/{runs,plots}; the local twins are
# jobs/local-*.sh. Prints one line per submitted job (its id) and the results folder.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEEPRFM_REPO="${DEEPRFM_REPO:-$(cd "$here/.." && pwd)}"
# shellcheck source=SCRIPTDIR/site.sh
source "$here/site.sh"
# shellcheck source=SCRIPTDIR/studies.sh
source "$here/studies.sh"
# shellcheck source=SCRIPTDIR/common.sh
source "$here/common.sh"

study="${1:-}"
cores="$DEEPRFM_CORES_PER_NODE"
node_flags=(--ntasks-per-node="$cores" --mem="$DEEPRFM_MEM_PER_NODE" --export=ALL)
dry="${DRY_RUN:-0}"

# dry_run_command NODES FUNCTION ARGS...: what the job will run, computed by the batch script's
# own functions (jobs/common.sh) with the job's task count.
dry_run_command() {
  local nodes="$1"; shift
  (
    export SLURM_JOB_ID=dry-run SLURM_NTASKS=$((nodes * cores)) DEEPRFM_PRINT_ONLY=1
    echo "  runs: $("$@")"
  )
}

# submit SBATCH_ARGS...: submits and prints the job id on stdout; with DRY_RUN=1 prints the
# sbatch command line (on stdout, nothing else).
submit() {
  if [ "$dry" = 1 ]; then
    printf 'sbatch'; printf ' %q' "$@"; echo
  else
    sbatch --parsable "$@" | cut -d';' -f1
  fi
}

# collect_after STUDY DIR JOBIDS...: the collection job, once the study's jobs have ended.
collect_after() {
  local study_name="$1" dir="$2"; shift 2
  local deps
  if [ "$dry" = 1 ]; then deps="JOB_IDS_ABOVE"; else deps="$(IFS=:; echo "$*")"; fi
  COLLECT_STUDY="$study_name" COLLECT_DIR="$dir" \
    submit --dependency="afterany:$deps" --export=ALL "$here/collect.sbatch"
}

# scaling_point NODES OUTPUT DATA N N_TEST LAYERS WIDTH ARGS: submits one point (prints its id).
scaling_point() {
  export POINT_OUTPUT="$2" POINT_DATA="$3" POINT_N="$4" POINT_N_TEST="$5" POINT_LAYERS="$6" \
    POINT_WIDTH="$7" POINT_ARGS="$8"
  point_job_args >/dev/null || exit 2
  submit --nodes="$1" "${node_flags[@]}" --time="$DEEPRFM_TIME" \
    --job-name="deeprfm-$(basename "$2" .h5)" "$here/scaling-point.sbatch"
  if [ "$dry" = 1 ]; then
    local -a args
    mapfile -t args < <(point_job_args)
    dry_run_command "$1" run_resumable "$(($1 * cores))" "$2" "${args[@]}"
  fi
}

# scaling_dir STUDY DATA N ARGS...: the study's folder, named by its options and their digest.
scaling_dir() {
  local name="$1" data="$2" n="$3"; shift 3
  echo "$DEEPRFM_RESULTS/$name/${data}-n${n}-$(options_digest "$data" "$n" "$@")"
}

case "$study" in
  run)
    nodes="${2:-1}"
    output="$(run_job_output)" || exit 2
    args_text="$(run_job_args)" || exit 2
    mapfile -t args <<<"$args_text"
    id="$(submit --nodes="$nodes" "${node_flags[@]}" --time="$DEEPRFM_TIME" "$here/run.sbatch")"
    if [ "$dry" = 1 ]; then
      echo "$id"
      dry_run_command "$nodes" run_resumable "$((nodes * cores))" "$output" "${args[@]}"
    else
      echo "submitted run: job $id -> $output"
    fi ;;
  seeds)
    dir="$(seeds_study_dir)" || exit 2
    list="$(echo "$SEEDS" | tr -s ' ' ',')"
    id="$(SEEDS_DIR="$dir" submit --array="$list" --nodes="$SEEDS_NODES" "${node_flags[@]}" \
      --time="$DEEPRFM_SEEDS_TIME" "$here/seeds.sbatch")"
    if [ "$dry" = 1 ]; then
      echo "$id"
      first=1
      for seed in $SEEDS; do
        save=last; [ "$first" = 1 ] && save=all; first=0
        args_text="$(seed_job_args "$seed" "$save")" || exit 2
        mapfile -t args <<<"$args_text"
        dry_run_command "$SEEDS_NODES" run_resumable "$((SEEDS_NODES * cores))" \
          "$dir/runs/seed-$seed.h5" "${args[@]}"
      done
    fi
    export SEEDS_DIR="$dir"
    cid="$(collect_after seeds "$dir" "$id")"
    if [ "$dry" = 1 ]; then echo "$cid"; else
      echo "submitted seeds: array $id, collection $cid -> $dir/plots"; fi ;;
  strong)
    dir="$(scaling_dir strong "$STRONG_DATA" "$STRONG_N" "$STRONG_N_TEST" "$STRONG_LAYERS" \
      "$STRONG_WIDTH" "$STRONG_EXTRA")"
    ids=()
    for nodes in $STRONG_NODES; do
      ids+=("$(scaling_point "$nodes" "$dir/runs/strong-N${nodes}-P$((nodes * cores)).h5" \
        "$STRONG_DATA" "$STRONG_N" "$STRONG_N_TEST" "$STRONG_LAYERS" "$STRONG_WIDTH" "$STRONG_EXTRA")")
    done
    cid="$(collect_after strong "$dir" "${ids[@]}")"
    if [ "$dry" = 1 ]; then printf '%s\n' "${ids[@]}" "$cid"; else
      echo "submitted strong scaling: jobs ${ids[*]}, collection $cid -> $dir/plots"; fi ;;
  weak)
    dir="$(scaling_dir weak synthetic "$WEAK_N1" "$WEAK_DIM" "$WEAK_N_TEST" "$WEAK_LAYERS" \
      "$WEAK_WIDTH" "$WEAK_EXTRA")"
    ids=()
    for nodes in $WEAK_NODES; do
      p=$((nodes * cores))
      n="$(weak_n_for "$nodes")"   # n^2 / nodes constant (per node: ranks per node fixed)
      ids+=("$(scaling_point "$nodes" "$dir/runs/weak-N${nodes}-P${p}.h5" synthetic "$n" \
        "$WEAK_N_TEST" "$WEAK_LAYERS" "$WEAK_WIDTH" "--dim $WEAK_DIM $WEAK_EXTRA")")
    done
    cid="$(collect_after weak "$dir" "${ids[@]}")"
    if [ "$dry" = 1 ]; then printf '%s\n' "${ids[@]}" "$cid"; else
      echo "submitted weak scaling: jobs ${ids[*]}, collection $cid -> $dir/plots"; fi ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2 ;;
esac
