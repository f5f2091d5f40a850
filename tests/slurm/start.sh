#!/usr/bin/env bash
# Start a single-node SLURM (munged, slurmctld, slurmd) on this machine for the SLURM test.
# Needs root and Debian's slurm-wlm + munge. Writes the daemons' PIDs to $STATE/pids so that
# stop.sh ends exactly what this script started. No accounting (status via squeue).
set -euo pipefail
STATE=${1:?usage: start.sh STATE_DIR}
mkdir -p "$STATE"/{spool,slurmd,log}
chown slurm:slurm "$STATE"/spool "$STATE"/log 2>/dev/null || true
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

if [ -e /etc/slurm/slurm.conf ] && ! grep -q "ferroscope test cluster" /etc/slurm/slurm.conf; then
  echo "start.sh: /etc/slurm/slurm.conf exists and is not ours; refusing to overwrite" >&2
  exit 3
fi
mkdir -p /etc/slurm
cat > /etc/slurm/slurm.conf <<CONF
# ferroscope test cluster: one node, no accounting (written by tests/slurm/start.sh)
ClusterName=ferroscope
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/spool
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
InactiveLimit=0
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge

: > "$STATE/pids"
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 1 30); do pgrep -x munged >/dev/null && break; sleep 0.1; done
  pgrep -x -n munged >> "$STATE/pids"
fi
/usr/sbin/slurmctld -c -f /etc/slurm/slurm.conf
/usr/sbin/slurmd -c -f /etc/slurm/slurm.conf
for _ in $(seq 1 50); do
  [ -s "$STATE/slurmctld.pid" ] && [ -s "$STATE/slurmd.pid" ] && break
  sleep 0.1
done
cat "$STATE/slurmctld.pid" "$STATE/slurmd.pid" >> "$STATE/pids"
for _ in $(seq 1 100); do
  if sinfo -h -o "%t" 2>/dev/null | grep -qE "^idle"; then
    echo "start.sh: SLURM up (node $HOST, $CPUS CPUs, ${MEM} MB)"
    exit 0
  fi
  sleep 0.2
done
echo "start.sh: node did not become idle" >&2
sinfo >&2 || true
exit 4
