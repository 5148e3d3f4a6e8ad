#!/usr/bin/env bash
# Runs that cross nodes of the test cluster (tests/slurm/cluster.sh): srun --mpi=pmix on 2 nodes
# x 1 rank and 2 nodes x 2 ranks (2x2 grid), mpirun inside a 2-node allocation, each against a
# 1-node run (results equal to 1e-10 relative). Proves the ranks really are on different nodes
# for MPI (shared memory alone cannot connect them; TCP does) and that the byte counters see
# the traffic between the nodes.
#   usage: test_cross_node.sh CLUSTER_DIR REPO BUILD_DIR    (prints 'N passed, N failed')
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/slurm/lib.sh
source "$here/lib.sh" "$1" "$2" "$3" cross-node

bin="$DEEPRFM_BIN"
opts=(--data synthetic --n 600 --dim 32 --classes 4 --layers 2 --width 64 --block-size 32
      --save-features all --overwrite)

srun --mpi=pmix -N 1 -n 1 "$bin" "${opts[@]}" --output ref.h5 >ref.log 2>&1
check "1-node reference run" test -s ref.h5

srun --mpi=pmix -N 2 -n 2 --ntasks-per-node=1 bash -c 'echo "$SLURM_PROCID $SLURMD_NODENAME"' \
  | sort >placement.txt
check "srun -N 2 -n 2 puts one task on each node" \
  diff <(printf '0 node1\n1 node2\n') placement.txt

srun --mpi=pmix -N 2 -n 2 --ntasks-per-node=1 "$bin" "${opts[@]}" --output n2p2.h5 >n2p2.log 2>&1
check "2 nodes x 1 rank (srun, PMIx) equals the 1-node run to 1e-10" same_results ref.h5 n2p2.h5 --rtol 1e-10

srun --mpi=pmix -N 2 -n 4 --ntasks-per-node=2 "$bin" "${opts[@]}" --grid 2x2 --output n2p4.h5 \
  >n2p4.log 2>&1
check "2 nodes x 2 ranks, grid 2x2 (srun, PMIx) equals the 1-node run to 1e-10" \
  same_results ref.h5 n2p4.h5 --rtol 1e-10
check "the 4-rank run used the 2x2 grid" grep -q "grid 2x2" n2p4.log

salloc -N 2 -n 2 --ntasks-per-node=1 mpirun --allow-run-as-root -x OPENBLAS_NUM_THREADS "$bin" \
  "${opts[@]}" --output mpirun.h5 >mpirun.log 2>&1
check "mpirun inside a 2-node allocation equals the 1-node run to 1e-10" \
  same_results ref.h5 mpirun.h5 --rtol 1e-10

# Shared memory only: ranks on two nodes cannot reach each other, so the job must fail. With
# TCP allowed (the default) the same run works: the traffic between the nodes is TCP.
OMPI_MCA_btl=self,vader timeout 120 srun --mpi=pmix -N 2 -n 2 --ntasks-per-node=1 "$bin" \
  "${opts[@]}" --output vader.h5 >vader.log 2>&1
rc=$?
check "shared memory alone cannot connect the two nodes (exit $rc, Open MPI says unreachable)" \
  bash -c "[ $rc -ne 0 ] && grep -q -i 'unreachable\|not able to reach\|BTLs' vader.log"
OMPI_MCA_btl=self,tcp srun --mpi=pmix -N 2 -n 2 --ntasks-per-node=1 "$bin" "${opts[@]}" \
  --output tcp.h5 >tcp.log 2>&1
check "TCP between the nodes works (btl self,tcp)" same_results ref.h5 tcp.h5 --rtol 1e-10

srun --mpi=pmix -N 1 -n 2 "$bin" "${opts[@]}" --output n1p2.h5 >n1p2.log 2>&1
check "1 node x 2 ranks equals the 1-rank run to 1e-10" same_results ref.h5 n1p2.h5 --rtol 1e-10

# Bytes between nodes, per phase (timings of layer 1): on 2 nodes x 1 rank every byte a rank
# sends crosses the network; on 1 node nothing does; on 2 nodes x 2 ranks a part.
"$python" - n2p2.h5 n2p4.h5 n1p2.h5 ref.h5 >bytes.txt 2>&1 <<'PY'
import sys, h5py, numpy as np
for path in sys.argv[1:]:
    f = h5py.File(path, "r")
    g = f["layers/layer_01"]
    t = g["timings"][()]
    cols = [c.decode() if isinstance(c, bytes) else c for c in g["timings"].attrs["columns"]]
    phases = [p.decode() if isinstance(p, bytes) else p for p in g["timings"].attrs["phases"]]
    b = t[:, cols.index("bytes")]
    off = t[:, cols.index("off_node_bytes")] if "off_node_bytes" in cols else np.full_like(b, np.nan)
    print(path, "total", int(b.sum()), "off_node", float(np.nansum(off)),
          " ".join(f"{p}:{int(x)}/{o:.0f}" for p, x, o in zip(phases, b, off)))
PY
cat bytes.txt
total_of() { awk -v f="$1" '$1 == f { print $3 }' bytes.txt; }
off_of() { awk -v f="$1" '$1 == f { printf "%d", $5 }' bytes.txt; }
check "2 nodes x 1 rank: every byte sent is off-node ($(off_of n2p2.h5) of $(total_of n2p2.h5))" \
  bash -c "[ $(total_of n2p2.h5) -gt 0 ] && [ $(off_of n2p2.h5) -eq $(total_of n2p2.h5) ]"
check "2 nodes x 2 ranks: part of the traffic is off-node ($(off_of n2p4.h5) of $(total_of n2p4.h5))" \
  bash -c "[ $(off_of n2p4.h5) -gt 0 ] && [ $(off_of n2p4.h5) -lt $(total_of n2p4.h5) ]"
check "1 node x 2 ranks: traffic, none of it off-node ($(off_of n1p2.h5) of $(total_of n1p2.h5))" \
  bash -c "[ $(total_of n1p2.h5) -gt 0 ] && [ $(off_of n1p2.h5) -eq 0 ]"
finish
