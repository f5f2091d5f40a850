#!/usr/bin/env bash
# Stop the daemons tests/slurm/start.sh started (by their PIDs) and remove its slurm.conf.
set -uo pipefail
STATE=${1:?usage: stop.sh STATE_DIR}
if [ -f "$STATE/pids" ]; then
  while read -r pid; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
  done < "$STATE/pids"
  sleep 0.5
  while read -r pid; do
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  done < "$STATE/pids"
fi
if grep -q "ferroscope test cluster" /etc/slurm/slurm.conf 2>/dev/null; then
  rm -f /etc/slurm/slurm.conf
fi
exit 0
