# shellcheck shell=bash
# jobs/batch-env.sh — first thing every batch script sources on the compute node. Slurm runs a
# copy of the batch script from its spool directory, so the checkout is found through
# DEEPRFM_REPO (exported by jobs/submit.sh) or the submission directory.

export DEEPRFM_REPO="${DEEPRFM_REPO:-${SLURM_SUBMIT_DIR:-$PWD}}"
if [ ! -f "$DEEPRFM_REPO/jobs/site.sh" ]; then
  echo "deeprfm-jobs: cannot find jobs/site.sh under DEEPRFM_REPO=$DEEPRFM_REPO; submit with jobs/submit.sh or from the checkout" >&2
  exit 2
fi
# shellcheck source=SCRIPTDIR/site.sh
source "$DEEPRFM_REPO/jobs/site.sh"
# shellcheck source=SCRIPTDIR/studies.sh
source "$DEEPRFM_REPO/jobs/studies.sh"
# shellcheck source=SCRIPTDIR/common.sh
source "$DEEPRFM_REPO/jobs/common.sh"
deeprfm_site_env
echo "deeprfm-jobs: job ${SLURM_JOB_ID:-?} on ${SLURM_JOB_NUM_NODES:-?} node(s), ${SLURM_NTASKS:-?} task(s), restart ${SLURM_RESTART_COUNT:-0}, $(date -u +%FT%TZ)"
