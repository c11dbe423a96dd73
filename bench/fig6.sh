#!/usr/bin/env bash
# Paper Figure 6: 99.5% GET / 0.5% SCAN on the RocksDB UDP server under the default reuseport
# hash, round_robin, scan_avoid and sita: p99 latency vs offered load. `--quick`: fewer points.
set -euo pipefail
NAME=fig6
source "$(dirname "${BASH_SOURCE[0]}")/kv.sh"
if [[ -n $QUICK ]]; then
  RATES=${RATES:-5000,15000,25000} RUNS=${RUNS:-1} DURATION=${DURATION:-1.5} WARMUP=${WARMUP:-0.3}
else
  RATES=${RATES:-3000,6000,9000,12000,15000,18000,21000,24000,27000,30000} RUNS=${RUNS:-3} DURATION=${DURATION:-3} WARMUP=${WARMUP:-0.5}
fi
SLO_US=${SLO_US:-3000}
kv_init
for r in $(seq "$RUNS"); do
  for p in default round_robin scan_avoid sita; do
    kv_step "[run $r/$RUNS, $p] {$RATES} rps, 0.5% SCAN"
    kv_policy "$p" 0.005 "$r"
  done
done
kv_report "99.5% GET / 0.5% SCAN, $THREADS threads: p99 latency vs offered load" default
