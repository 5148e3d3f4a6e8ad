# shellcheck shell=bash
# jobs/local-env.sh — set-up shared by the local twins (jobs/local-*.sh): the same site,
# study and run code as the Slurm scripts, with mpirun on this machine instead of srun.
# Sourced; expects `here` (the jobs/ folder).

export DEEPRFM_LOCAL=1
export DEEPRFM_REPO="${DEEPRFM_REPO:-$(cd "$here/.." && pwd)}"
export DEEPRFM_BIN="${DEEPRFM_BIN:-${DEEPRFM_BUILD_DIR:-$DEEPRFM_REPO/build}/deeprfm}"
export DEEPRFM_LAUNCHER=mpirun
# shellcheck source=SCRIPTDIR/site.sh
source "$here/site.sh"
# shellcheck source=SCRIPTDIR/studies.sh
source "$here/studies.sh"
# shellcheck source=SCRIPTDIR/common.sh
source "$here/common.sh"
deeprfm_site_env

if [ ! -x "$DEEPRFM_BIN" ]; then
  jobs_log "$DEEPRFM_BIN not found: running scripts/setup.sh (packages + build)"
  DEEPRFM_BUILD_DIR="$(dirname "$DEEPRFM_BIN")" bash "$DEEPRFM_REPO/scripts/setup.sh"
fi

# local_study_dir NAME [DIR]: the study's folder (runs/, logs/, plots/). Earlier results are
# moved to DIR.previous (replacing an older one) so that the new plots hold only this study's
# runs; DEEPRFM_KEEP=1 keeps them in place instead (complete runs are then reused and
# incomplete ones resumed).
local_study_dir() {
  local dir="${2:-$DEEPRFM_REPO/results/local/$1}"
  if [ "${DEEPRFM_KEEP:-0}" != 1 ] && [ -d "$dir/runs" ]; then
    rm -rf "$dir.previous"
    mv "$dir" "$dir.previous"
    jobs_log "earlier results moved to $dir.previous"
  fi
  mkdir -p "$dir/runs" "$dir/logs" "$dir/plots"
  echo "$dir"
}
