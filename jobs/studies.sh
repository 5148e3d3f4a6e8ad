# shellcheck shell=bash
# jobs/studies.sh — what each study runs (sizes, rank counts, seeds), for the cluster and for the
# local twins (DEEPRFM_LOCAL=1). Sourced; every value can be overridden from the environment,
# e.g. STRONG_N=200000 bash jobs/submit.sh strong.

if [ "${DEEPRFM_LOCAL:-0}" = 1 ]; then
  # This workstation (2 cores): a few minutes per study.
  : "${RUN_DATA:=fashion-mnist}" "${RUN_N:=2000}" "${RUN_N_TEST:=1000}" "${RUN_LAYERS:=4}"
  : "${RUN_WIDTH:=512}" "${RUN_KERNEL:=laplace}"
  : "${STRONG_DATA:=fashion-mnist}" "${STRONG_N:=3000}" "${STRONG_N_TEST:=1000}"
  : "${STRONG_LAYERS:=2}" "${STRONG_WIDTH:=512}" "${STRONG_RANKS:=1 2 4}"
  # Weak: n = 3000 sqrt(P) with d = 784 (Fashion-MNIST's width), so that every phase that
  # matters lasts long enough (>= 0.05 s) for the model check of docs/scaling.md.
  : "${WEAK_N1:=3000}" "${WEAK_DIM:=784}" "${WEAK_N_TEST:=1000}" "${WEAK_LAYERS:=2}"
  : "${WEAK_WIDTH:=512}" "${WEAK_RANKS:=1 2 4}"
  : "${SEEDS_DATA:=fashion-mnist}" "${SEEDS_N:=2000}" "${SEEDS_N_TEST:=1000}" "${SEEDS_LAYERS:=8}"
  : "${SEEDS_WIDTH:=512}" "${SEEDS:=1 2 3}" "${SEEDS_RANKS:=2}"
else
  # A cluster: rank counts are NODES x DEEPRFM_CORES_PER_NODE (jobs/site.sh).
  : "${RUN_DATA:=fashion-mnist}" "${RUN_N:=20000}" "${RUN_N_TEST:=10000}" "${RUN_LAYERS:=12}"
  : "${RUN_WIDTH:=1024}" "${RUN_KERNEL:=laplace}"
  : "${STRONG_DATA:=fashion-mnist}" "${STRONG_N:=60000}" "${STRONG_N_TEST:=10000}"
  : "${STRONG_LAYERS:=2}" "${STRONG_WIDTH:=1024}" "${STRONG_NODES:=1 2 4 8 16}"
  : "${WEAK_N1:=40000}" "${WEAK_DIM:=784}" "${WEAK_N_TEST:=2000}" "${WEAK_LAYERS:=2}"
  : "${WEAK_WIDTH:=1024}" "${WEAK_NODES:=1 4 16 64}"
  : "${SEEDS_DATA:=fashion-mnist}" "${SEEDS_N:=20000}" "${SEEDS_N_TEST:=10000}" "${SEEDS_LAYERS:=20}"
  : "${SEEDS_WIDTH:=1024}" "${SEEDS:=1 2 3 4 5}" "${SEEDS_NODES:=1}"
fi
: "${RUN_SEED:=1}" "${RUN_EXTRA:=}" "${STRONG_EXTRA:=}" "${WEAK_EXTRA:=}" "${SEEDS_EXTRA:=}"
: "${BLOCK_SIZE:=128}"
export RUN_DATA RUN_N RUN_N_TEST RUN_LAYERS RUN_WIDTH RUN_KERNEL RUN_SEED RUN_EXTRA
export STRONG_DATA STRONG_N STRONG_N_TEST STRONG_LAYERS STRONG_WIDTH STRONG_EXTRA
export WEAK_N1 WEAK_DIM WEAK_N_TEST WEAK_LAYERS WEAK_WIDTH WEAK_EXTRA
export SEEDS_DATA SEEDS_N SEEDS_N_TEST SEEDS_LAYERS SEEDS_WIDTH SEEDS SEEDS_EXTRA BLOCK_SIZE
export STRONG_RANKS WEAK_RANKS SEEDS_RANKS STRONG_NODES WEAK_NODES SEEDS_NODES

# n for P ranks in the weak study: n^2 / P = WEAK_N1^2 (rounded to a multiple of 10 classes).
weak_n_for() {
  local p="$1"
  awk -v n1="$WEAK_N1" -v p="$p" 'BEGIN { n = n1 * sqrt(p); printf "%d\n", int(n / 10 + 0.5) * 10 }'
}
