#!/usr/bin/env bash
# Every job script of jobs/ submitted for real to the test cluster (tests/slurm/cluster.sh), at
# tiny sizes: a single run, the seeds array with its dependent collection job, the strong and
# the weak study with theirs; then the same with DEEPRFM_LAUNCHER=mpirun. Checks that sacct
# shows every job COMPLETED, that results and plots appear where docs/scaling.md says, that a
# resubmitted run is recognised as done, and that a changed experiment never passes for it.
#   usage: test_job_scripts.sh CLUSTER_DIR REPO BUILD_DIR    (prints 'N passed, N failed')
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/slurm/lib.sh
source "$here/lib.sh" "$1" "$2" "$3" job-scripts

submit() { bash "$repo/jobs/submit.sh" "$@"; }
ids_of() { grep -o -E '(job|jobs|array|collection) [0-9][0-9 ]*' "$1" | grep -o -E '[0-9]+'; }

export RUN_N=300 RUN_N_TEST=100 RUN_LAYERS=2 RUN_WIDTH=64
export SEEDS="1 2" SEEDS_N=300 SEEDS_N_TEST=100 SEEDS_LAYERS=2 SEEDS_WIDTH=64 SEEDS_NODES=1
export STRONG_N=400 STRONG_N_TEST=100 STRONG_LAYERS=1 STRONG_WIDTH=64 STRONG_NODES="1 2"
export WEAK_N1=300 WEAK_DIM=32 WEAK_N_TEST=100 WEAK_LAYERS=1 WEAK_WIDTH=64 WEAK_NODES="1 2"
export BLOCK_SIZE=32 DEEPRFM_TIME=00:10:00 DEEPRFM_SEEDS_TIME=00:10:00

submit_all() {  # submit_all TAG: every study; the job ids in TAG.ids
  local tag="$1" s
  : >"$tag.ids"
  for s in "run 1" seeds strong weak; do
    # shellcheck disable=SC2086
    submit $s >"$tag-$s.out" 2>&1 || echo "submit $s failed: $(cat "$tag-$s.out")"
    cat "$tag-$s.out"
    ids_of "$tag-$s.out" >>"$tag.ids"
  done
}

# ---- srun (the default launcher) ----
submit_all srun
mapfile -t ids <srun.ids
check "srun: 9 jobs submitted (run; the seeds array + collection; 2 points + collection per study)" \
  test "${#ids[@]}" -eq 9
wait_jobs 600 "${ids[@]}"
check "srun: sacct shows every job (and array task) COMPLETED with exit 0" all_completed "${ids[@]}"
res="$DEEPRFM_RESULTS"
run_file="$(ls "$res"/run/*[0-9a-f].h5 2>/dev/null | head -n 1)"
check "run: results file under results/run/ named by options and digest" \
  bash -c "[[ '$(basename "$run_file")' =~ ^fashion-mnist-n300-L2-D64-laplace-seed1-[0-9a-f]{8}\.h5$ ]]"
check "run: the file is complete with 2 layers" test "$(completed_layers_of "$run_file")" -eq 2
seeds_dir="$(ls -d "$res"/seeds/*/ | head -n 1)"
check "seeds: both seeds' results" test -s "$seeds_dir/runs/seed-1.h5" -a -s "$seeds_dir/runs/seed-2.h5"
check "seeds: Figure 3 and Figure 2 drawn by the collection job" \
  test -s "$seeds_dir/plots/figure3_nc.png" -a -s "$seeds_dir/plots/figure2_gram.png"
check "seeds: files-used.txt lists both seeds" \
  bash -c "grep -c 'seed-[12].h5' '$seeds_dir/plots/files-used.txt' | grep -qx 2"
strong_dir="$(ls -d "$res"/strong/*/ | head -n 1)"
check "strong: a results file per node count" \
  test -s "$strong_dir/runs/strong-N1-P$DEEPRFM_CORES_PER_NODE.h5" -a -s "$strong_dir/runs/strong-N2-P$((2 * DEEPRFM_CORES_PER_NODE)).h5"
check "strong: speed-up plot and CSV" test -s "$strong_dir/plots/strong_scaling.png" -a -s "$strong_dir/plots/strong_scaling.csv"
weak_dir="$(ls -d "$res"/weak/*/ | head -n 1)"
check "weak: weak-scaling plot and CSV" test -s "$weak_dir/plots/weak_scaling.png" -a -s "$weak_dir/plots/weak_scaling.csv"

# ---- the same run again: recognised as done, not run twice ----
submit run 1 >again.out 2>&1
mapfile -t again < <(ids_of again.out)
wait_jobs 300 "${again[@]}"
check "resubmitted run: COMPLETED" all_completed "${again[@]}"
check "resubmitted run: deeprfm says there is nothing to do" \
  grep -q "nothing to do" "deeprfm-run-${again[0]}.out"

# ---- a different experiment: never 'nothing to do' ----
RUN_EXTRA="--ridge 1e-3 --bandwidth 10" submit run 1 >extra.out 2>&1
mapfile -t extra < <(ids_of extra.out)
wait_jobs 300 "${extra[@]}"
check "other options: a new results file (another digest), complete" \
  test "$(find "$res/run" -maxdepth 1 -regextype posix-extended -regex '.*-[0-9a-f]{8}\.h5' | wc -l)" -eq 2
# The same options forced onto the first file: refused, naming the options that differ.
RUN_OUTPUT="$run_file" RUN_EXTRA="--ridge 1e-3 --bandwidth 10" submit run 1 >forced.out 2>&1
mapfile -t forced < <(ids_of forced.out)
wait_jobs 300 "${forced[@]}"
forced_state="$(sacct_settled -j "${forced[0]}" -o State%20,ExitCode)"
check "other options on an existing file: the job fails (exit 2)" \
  bash -c "echo '$forced_state' | grep -q -E 'FAILED +2:0'"
check "other options on an existing file: the message names --ridge and --bandwidth" \
  bash -c "grep -q -- '--ridge' deeprfm-run-${forced[0]}.out && grep -q -- '--bandwidth' deeprfm-run-${forced[0]}.out"
check "other options on an existing file: the file still holds the first run" \
  same_results "$run_file" "$run_file" --layers 2

# ---- DEEPRFM_LAUNCHER=mpirun: the same scripts ----
export DEEPRFM_LAUNCHER=mpirun DEEPRFM_RESULTS="$work/results-mpirun"
submit_all mpirun
mapfile -t mids <mpirun.ids
wait_jobs 600 "${mids[@]}"
check "mpirun: sacct shows every job COMPLETED with exit 0" all_completed "${mids[@]}"
m_run="$(ls "$DEEPRFM_RESULTS"/run/*[0-9a-f].h5 2>/dev/null | head -n 1)"
check "mpirun: the run equals the srun run to 1e-10" same_results "$run_file" "$m_run" --rtol 1e-10
m_strong="$(ls -d "$DEEPRFM_RESULTS"/strong/*/ | head -n 1)"
check "mpirun: strong study plots" test -s "$m_strong/plots/strong_scaling.png"
finish
