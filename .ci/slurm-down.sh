#!/usr/bin/env bash
# Stop the daemons .ci/slurm-up.sh started (by their pid files; nothing else is touched).
DIR=$(realpath -m "${GDW_SLURM_DIR:-.slurm-local}")
for pidfile in "$DIR/run/slurmd.pid" "$DIR/run/slurmctld.pid" "$DIR/munge/munged.pid"; do
  [ -s "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 1 50); do  # a zombie (state Z) counts as stopped: PID 1 here reaps late
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    { [ -z "$state" ] || [ "$state" = Z ]; } && break
    sleep 0.1
  done
done
