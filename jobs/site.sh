# shellcheck shell=bash
# jobs/site.sh — THE ONE FILE TO EDIT for your cluster. Sourced by jobs/submit.sh (before
# sbatch: account, partition, limits) and by every batch script (on the compute node: modules,
# paths, launcher). Every value can also be overridden from the environment.

# ---- Slurm accounting (exported as sbatch's own input variables) ----
export SBATCH_ACCOUNT="${SBATCH_ACCOUNT:-my_account}"       # sbatch --account
export SBATCH_PARTITION="${SBATCH_PARTITION:-compute}"      # sbatch --partition
# export SBATCH_QOS="${SBATCH_QOS:-normal}"                 # sbatch --qos, if your site uses one
export DEEPRFM_TIME="${DEEPRFM_TIME:-02:00:00}"             # time limit of one run / one scaling point
export DEEPRFM_SEEDS_TIME="${DEEPRFM_SEEDS_TIME:-01:00:00}" # time limit of one seed of the array

# ---- the node ----
export DEEPRFM_CORES_PER_NODE="${DEEPRFM_CORES_PER_NODE:-128}"  # one MPI rank per core
export DEEPRFM_MEM_PER_NODE="${DEEPRFM_MEM_PER_NODE:-0}"        # sbatch --mem (0 = whole node)

# ---- where things are ----
# DEEPRFM_REPO is set by jobs/submit.sh (the checkout the jobs were submitted from).
export DEEPRFM_BIN="${DEEPRFM_BIN:-${DEEPRFM_REPO:-.}/build/deeprfm}"
export DEEPRFM_RESULTS="${DEEPRFM_RESULTS:-${DEEPRFM_REPO:-.}/results/cluster}"
# The folder of each data set's files (IDX for the MNISTs, the python/binary batches for
# CIFAR-10). Each has its own setting so that one data set never runs in place of another; an
# empty one is refused when a job asks for that data set.
export DEEPRFM_FASHION_MNIST_DIR="${DEEPRFM_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
export DEEPRFM_MNIST_DIR="${DEEPRFM_MNIST_DIR:-}"
export DEEPRFM_CIFAR10_DIR="${DEEPRFM_CIFAR10_DIR:-}"
# Python with h5py + matplotlib for the collection step (Debian: /usr/bin/python3).
export DEEPRFM_PYTHON="${DEEPRFM_PYTHON:-/usr/bin/python3}"

# ---- the software environment on the compute nodes ----
deeprfm_site_env() {
  # Uncomment / adapt, e.g.:
  # module purge
  # module load gcc/12 openmpi/4.1 openblas scalapack hdf5-parallel boost
  # spack env activate deeprfm
  # OpenBLAS kernels: check the CPU flags first (docs/cli.md, "BLAS kernels and threads").
  # export OPENBLAS_CORETYPE=SkylakeX
  export OPENBLAS_NUM_THREADS=1   # one rank per core, one BLAS thread per rank
  export OMP_NUM_THREADS=1
  return 0
}

# ---- how ranks are started inside an allocation ----
# srun (default) or mpirun; extra flags for it.
export DEEPRFM_LAUNCHER="${DEEPRFM_LAUNCHER:-srun}"
# --mpi=pmix: Open MPI 4 (and most MPIs) start through Slurm's PMIx plugin; drop it where the
# site sets MpiDefault=pmix, or use --mpi=pmi2 where that is what the MPI was built for.
export DEEPRFM_SRUN_FLAGS="${DEEPRFM_SRUN_FLAGS:---mpi=pmix --cpu-bind=cores}"
export DEEPRFM_MPIRUN_FLAGS="${DEEPRFM_MPIRUN_FLAGS:-}"
# The signal deeprfm checkpoints on (exits 75 afterwards); Slurm sends it 90 s before the limit
# (#SBATCH --signal), the batch shell turns TERM/INT into it.
export DEEPRFM_STOP_SIGNAL="${DEEPRFM_STOP_SIGNAL:-USR1}"
# Seconds before the limit at which Slurm sends it: keep equal to the batch scripts'
# `#SBATCH --signal=B:USR1@90` (or to SBATCH_SIGNAL when you override that).
export DEEPRFM_SIGNAL_LEAD="${DEEPRFM_SIGNAL_LEAD:-90}"
export DEEPRFM_MAX_REQUEUES="${DEEPRFM_MAX_REQUEUES:-5}"
