#!/usr/bin/env bash
# A real Slurm cluster on this one machine, for the test suite: munge, MariaDB + slurmdbd (so
# that sacct works), slurmctld and NODES slurmd "nodes" (node1, node2, ...), each slurmd in its
# own mount namespace with a private /tmp and /dev/shm, as on separate machines (the PMIx
# plugin's spmix_appdir_* folders and Open MPI's shared-memory files would otherwise collide
# between nodes). Everything lives in one state folder and listens on loopback only.
#
#   cluster.sh start DIR [NODES]   start it (NODES default 2, CPUs per node = this machine's)
#   cluster.sh stop DIR            stop every daemon (also the ones of a failed start); the
#                                  accounting record of all its jobs is left in DIR/sacct.txt
#   cluster.sh env DIR             the environment that points the Slurm commands at it
#   cluster.sh crash-node DIR NODE SIGKILL the node's slurmd, step daemons and tasks (a crashed node)
#   cluster.sh start-node DIR NODE start a node's slurmd again (after crash-node) and resume it
#
# Every node has its own /tmp: folders under /tmp that jobs must see (DIR itself, and the
# colon-separated DEEPRFM_CLUSTER_SHARE, e.g. the checkout and build) are shared. Needs root (several slurmd,
# mount namespaces) and Debian's slurm-wlm, slurmdbd, munge and mariadb-server (.ci/run and
# scripts/setup.sh install them). A failed start stops what it started.
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "cluster.sh: $*" >&2; }

cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,17p' "$0" >&2; exit 2; }
dir="$(realpath -m "$dir")"

# A free TCP port on loopback.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      grep -qs " $p$" "$dir/ports" 2>/dev/null || { echo "$p"; return; }
    fi
  done
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local seconds="$1" what="$2"; shift 2
  local i
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "timed out after ${seconds}s waiting for $what (logs in $dir/log)"
}

write_env() {
  cat >"$dir/env.sh" <<EOF
# Source this to use the test cluster in $dir.
export SLURM_CONF="$dir/etc/slurm.conf"
# Open MPI: TCP between nodes over loopback only; shared memory inside a node.
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export PMIX_MCA_ptl_tcp_if_include=lo
export DEEPRFM_TEST_CLUSTER="$dir"
EOF
}

start_node() {
  local node="$1" nd="$dir/nodes/$1"
  mkdir -p "$nd/tmp" "$nd/shm" "$nd/spool"
  chmod 1777 "$nd/tmp" "$nd/shm"
  # A private /tmp and /dev/shm for this node and everything it starts. Folders under /tmp
  # that the cluster must share (its own folder, DEEPRFM_CLUSTER_SHARE: the checkout, the
  # build) are bound into the private /tmp first, as a cluster's shared file system would be.
  local -a shared=()
  local path top
  for path in "$dir" ${DEEPRFM_CLUSTER_SHARE:+${DEEPRFM_CLUSTER_SHARE//:/ }}; do
    path="$(realpath -m "$path")"
    case "$path" in
      /tmp/*) top="${path#/tmp/}"; top="${top%%/*}"; shared+=("$top") ;;
    esac
  done
  unshare --mount --propagation private -- bash -c '
    nd="$1" node="$2" conf="$3"; shift 3
    for top in "$@"; do
      mkdir -p "$nd/tmp/$top" && mount --bind "/tmp/$top" "$nd/tmp/$top" || exit 1
    done
    mount --rbind "$nd/tmp" /tmp && mount --bind "$nd/shm" /dev/shm &&
    exec slurmd -N "$node" -f "$conf"' _ "$nd" "$node" "$dir/etc/slurm.conf" "${shared[@]}" \
    >>"$dir/log/slurmd-$node.out" 2>&1
  wait_for 20 "slurmd $node" pid_alive "$nd/slurmd.pid"
}

start() {
  local nodes="${1:-2}"
  [ "$(id -u)" -eq 0 ] || die "needs root (several slurmd on one host, mount namespaces)"
  for b in munged slurmctld slurmd slurmdbd mariadbd mariadb-install-db sbatch sacct unshare; do
    command -v "$b" >/dev/null || die "$b not found (bash scripts/setup.sh --tests installs it)"
  done
  if [ -e "$dir/etc/slurm.conf" ]; then
    log "$dir holds a cluster from an earlier run: stopping it and starting afresh"
    stop
  fi
  rm -rf "$dir"
  mkdir -p "$dir"/{etc,log,munge,ctld,db,run}
  chmod 700 "$dir/munge"
  : >"$dir/ports"
  local host cpus p
  host="$(hostname -s)"
  cpus="$(getconf _NPROCESSORS_ONLN)"
  local ctld_port dbd_port db_port
  ctld_port="$(free_port)"; echo "ctld $ctld_port" >>"$dir/ports"
  dbd_port="$(free_port)"; echo "dbd $dbd_port" >>"$dir/ports"
  db_port="$(free_port)"; echo "db $db_port" >>"$dir/ports"
  write_env

  # munge: its own key and socket.
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed"
  wait_for 10 munged test -S "$dir/munge/munge.socket"

  # MariaDB for slurmdbd (accounting: sacct), loopback TCP only.
  mariadb-install-db --no-defaults --datadir="$dir/db" --user=root \
    --auth-root-authentication-method=socket --skip-test-db >"$dir/log/mariadb-install.log" 2>&1 ||
    die "mariadb-install-db failed ($dir/log/mariadb-install.log)"
  (mariadbd --no-defaults --datadir="$dir/db" --socket="$dir/run/mysqld.sock" --user=root \
    --bind-address=127.0.0.1 --port="$db_port" --pid-file="$dir/run/mariadb.pid" \
    --log-error="$dir/log/mariadb.log" --skip-log-bin --innodb-buffer-pool-size=32M \
    --innodb-log-file-size=8M >/dev/null 2>&1 &)
  wait_for 60 mariadb mariadb --no-defaults --socket="$dir/run/mysqld.sock" -u root -e 'select 1'
  mariadb --no-defaults --socket="$dir/run/mysqld.sock" -u root -e \
    "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'deeprfm-test'; GRANT ALL ON *.* TO 'slurm'@'127.0.0.1';"

  cat >"$dir/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
LogFile=$dir/log/slurmdbd.log
PidFile=$dir/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=deeprfm-test
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$dir/etc/slurmdbd.conf"

  {
    cat <<EOF
ClusterName=deeprfmtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/nodes/%n/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/nodes/%n/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
TmpFS=/tmp
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobRequeue=1
ReturnToService=2
SlurmdTimeout=10
SlurmctldTimeout=30
MessageTimeout=10
InactiveLimit=0
KillWait=15
OverTimeLimit=0
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
# The munge socket for the slurmdbd connection (AuthInfo does not cover it).
AccountingStoragePass=$dir/munge/munge.socket
JobCompType=jobcomp/none
EOF
    local i
    for ((i = 1; i <= nodes; i++)); do
      p="$(free_port)"; echo "node$i $p" >>"$dir/ports"
      echo "NodeName=node$i NodeAddr=127.0.0.1 NodeHostname=$host Port=$p CPUs=$cpus State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=node[1-$nodes] Default=YES MaxTime=INFINITE State=UP"
  } >"$dir/etc/slurm.conf"
  # The PMIx plugin: nothing to set; each node's private /tmp keeps the step folders apart.
  : >"$dir/etc/plugstack.conf"
  echo "PlugStackConfig=$dir/etc/plugstack.conf" >>"$dir/etc/slurm.conf"

  export SLURM_CONF="$dir/etc/slurm.conf"
  slurmdbd >>"$dir/log/slurmdbd.out" 2>&1 ||
    die "slurmdbd did not start ($dir/log/slurmdbd.log)"
  wait_for 30 slurmdbd pid_alive "$dir/run/slurmdbd.pid"
  # Register the cluster before slurmctld connects, so that its jobs are accounted from job 1.
  local i
  for ((i = 0; i < 30; i++)); do
    sacctmgr -i add cluster deeprfmtest >/dev/null 2>&1 && break
    sacctmgr -n list cluster format=cluster 2>/dev/null | grep -q deeprfmtest && break
    sleep 0.5
  done
  slurmctld -f "$dir/etc/slurm.conf" >>"$dir/log/slurmctld.out" 2>&1 ||
    die "slurmctld did not start ($dir/log/slurmctld.log)"
  wait_for 30 slurmctld scontrol ping
  for ((i = 1; i <= nodes; i++)); do start_node "node$i"; done
  wait_for 60 "all nodes idle" all_idle "$nodes"
  log "up: $nodes nodes x $cpus CPUs in $dir (source $dir/env.sh)"
}

all_idle() {
  local n
  n="$(sinfo -h -N -t idle -o '%N' 2>/dev/null | sort -u | wc -l)"
  [ "$n" -ge "$1" ]
}

# Kill the processes of a pid file (TERM, then KILL).
stop_pidfile() {
  local f="$1" pid
  [ -s "$f" ] || return 0
  pid="$(cat "$f")"
  kill -TERM "$pid" 2>/dev/null || return 0
  local i
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# PIDs of every process whose working state lives in this cluster's folder (command line or
# open files), plus the step daemons and tasks of its nodes (their mount namespace).
cluster_pids() {
  local p ns
  local -A node_ns=()
  for f in "$dir"/nodes/*/mntns; do [ -s "$f" ] && node_ns["$(cat "$f")"]=1; done
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    [ "$p" = "$$" ] && continue
    case "$(cat "/proc/$p/comm" 2>/dev/null)" in
      munged|mariadbd|slurmdbd|slurmctld|slurmd|slurmstepd)
        if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$dir/"; then
          echo "$p"; continue
        fi ;;
    esac
    ns="$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" || continue
    [ -n "${node_ns[$ns]:-}" ] && echo "$p"
  done
  return 0
}

stop() {
  [ -d "$dir" ] || return 0
  export SLURM_CONF="$dir/etc/slurm.conf"
  # The accounting record of every job the cluster ran, kept beside it (sacct.txt).
  if pid_alive "$dir/run/slurmdbd.pid"; then
    sacct -a -D -X -S 2000-01-01 -o JobID%12,JobName%24,State%12,ExitCode%6,Elapsed,NNodes,NodeList%12 \
      >"$dir/sacct.txt" 2>/dev/null || true
  fi
  for f in "$dir"/nodes/*/slurmd.pid; do [ -e "$f" ] && stop_pidfile "$f"; done
  stop_pidfile "$dir/run/slurmctld.pid"
  stop_pidfile "$dir/run/slurmdbd.pid"
  stop_pidfile "$dir/run/mariadb.pid"
  stop_pidfile "$dir/munge/munged.pid"
  # Whatever is left (step daemons, tasks of a job that was running, a daemon of a failed start).
  local pids
  pids="$(cluster_pids | tr '\n' ' ')"
  if [ -n "${pids// /}" ]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
  log "stopped the cluster in $dir"
}

node_pids() {
  local node="$1" nd="$dir/nodes/$1" ns p
  # The node's mount namespace, recorded when its slurmd started.
  [ -s "$nd/mntns" ] || die "no recorded mount namespace for $node"
  ns="$(cat "$nd/mntns")"
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    [ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$ns" ] && echo "$p"
  done
  return 0
}

crash_node() {
  local node="$1" pids
  pids="$(node_pids "$node" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  log "crashed $node (SIGKILL to slurmd, step daemons and tasks: $pids)"
}

case "$cmd" in
  start)
    # shellcheck disable=SC2154  # rc is assigned inside the trap
    trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed: stopping"; stop; fi' EXIT
    start "${3:-2}"
    # Remember each node's mount namespace, so that stop finds its step daemons and tasks.
    for nd in "$dir"/nodes/*; do
      readlink "/proc/$(cat "$nd/slurmd.pid")/ns/mnt" >"$nd/mntns"
    done
    trap - EXIT ;;
  stop) stop ;;
  env) cat "$dir/env.sh" ;;
  crash-node) crash_node "${3:?node name}" ;;
  start-node)
    export SLURM_CONF="$dir/etc/slurm.conf"
    # A crashed node comes back as after a reboot: its private /tmp and /dev/shm are empty and
    # no folder or socket of the killed step daemons is left in its spool folder (the requeued job keeps
    # its job and step ids: the PMIx folder and socket of the killed step would collide).
    [ -z "$(node_pids "${3:?node name}" 2>/dev/null)" ] || die "$3 is still running"
    find "$dir/nodes/$3/tmp" "$dir/nodes/$3/shm" -mindepth 1 -delete 2>/dev/null || true
    find "$dir/nodes/$3/spool" -mindepth 1 -maxdepth 1 \( -name 'pmix.*' -o -type s \) \
      -exec rm -rf {} + 2>/dev/null || true
    start_node "$3"
    readlink "/proc/$(cat "$dir/nodes/$3/slurmd.pid")/ns/mnt" >"$dir/nodes/$3/mntns"
    sinfo -h -n "$3" -o %T | grep -q -i down && scontrol update nodename="$3" state=resume
    true ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
