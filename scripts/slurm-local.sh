#!/usr/bin/env bash
# A throwaway one-node Slurm cluster on this machine, for tests and for trying out the
# job-array examples (examples/slurm/) without a real cluster.
#
#   scripts/slurm-local.sh start DIR   # then: eval "$(scripts/slurm-local.sh start DIR)"
#   scripts/slurm-local.sh stop DIR
#
# start: installs slurmctld, slurmd, slurm-client and munge when missing (Debian, as root or
# through sudo), starts munged when no munge daemon answers, writes DIR/slurm.conf (this
# host as controller and only node, CPUs and memory from the machine, free high ports, state,
# spool, pid and log files under DIR), starts slurmctld and slurmd, waits until `sinfo`
# shows the node idle (or fails after SLURM_LOCAL_TIMEOUT seconds, default 60, printing the
# logs' tails) and prints `export SLURM_CONF=DIR/slurm.conf` on stdout (all else goes to
# stderr). When DIR's daemons already run it only prints that line again.
# stop: ends the daemons started in DIR by their pid files (never by name) and waits for
# them to exit; nothing to do when they are not running. munged is left running (it is
# shared; started once per machine).
# The daemons run as root (SlurmUser=root), so `start` needs root.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
[ "$cmd" = stop ] && [ ! -d "$2" ] && exit 0
mkdir -p "$2"
dir=$(cd "$2" && pwd)
conf=$dir/slurm.conf
timeout=${SLURM_LOCAL_TIMEOUT:-60}

# Pid from a pid file, when that process still runs.
alive_pid() {
    local f=$1 pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' < "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop_daemon() {
    local name=$1 pid
    pid=$(alive_pid "$dir/$name.pid") || return 0
    echo "stopping $name (pid $pid)" >&2
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$dir/$name.pid"; return 0; }
        sleep 0.1
    done
    echo "$name (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/$name.pid"
}

logs_tail() {
    for f in "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
        [ -f "$f" ] && { echo "--- tail of $f" >&2; tail -n 20 "$f" >&2; }
    done
}

node_state() { SLURM_CONF=$conf sinfo -h -N -o '%t' 2>/dev/null | head -n1; }

if [ "$cmd" = stop ]; then
    stop_daemon slurmd
    stop_daemon slurmctld
    exit 0
elif [ "$cmd" != start ]; then
    usage
fi

if alive_pid "$dir/slurmctld.pid" >/dev/null && alive_pid "$dir/slurmd.pid" >/dev/null; then
    case "$(node_state)" in
        idle|mix|alloc) echo "export SLURM_CONF=$conf"; exit 0 ;;
    esac
fi
# Half-started or stale: start over.
stop_daemon slurmd
stop_daemon slurmctld

[ "$(id -u)" -eq 0 ] || { echo "$0: start needs root (the daemons run as SlurmUser=root)" >&2; exit 1; }

source "$(dirname "$0")/common.sh"
SIEVE_APT_PACKAGES+=(slurmctld slurmd slurm-client munge)
sieve_install_packages

# munge: one daemon per machine, shared by whatever else uses it.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -f /etc/munge/munge.key ] || mungekey -c
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    echo "starting munged" >&2
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || { echo "$0: munged does not answer" >&2; exit 1; }
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 30000))
        if port_free "$p" && port_free $((p + 1)); then echo "$p"; return 0; fi
    done
    echo "$0: found no free port" >&2; exit 1
}

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/^MemTotal:/ { m = int($2 / 1024 * 0.8); print (m > 8000 ? 8000 : m) }' /proc/meminfo)
port=$(pick_port)
rm -rf "$dir/state" "$dir/spool"
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
cat > "$conf" <<EOF
# Written by scripts/slurm-local.sh: a one-node cluster under $dir.
ClusterName=sieve-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

export SLURM_CONF=$conf
echo "starting slurmctld and slurmd (ports $port, $((port + 1)))" >&2
slurmctld -f "$conf" || { logs_tail; exit 1; }
slurmd -f "$conf" || { logs_tail; exit 1; }

for _ in $(seq $((timeout * 5))); do
    [ "$(node_state)" = idle ] && { echo "export SLURM_CONF=$conf"; exit 0; }
    sleep 0.2
done
echo "$0: node $host not idle after $timeout s (state: '$(node_state)')" >&2
SLURM_CONF=$conf sinfo -N -l >&2 || true
logs_tail
exit 1
