#!/usr/bin/env bash
# Paper Figure 6: 99.5% GET / 0.5% SCAN on the RocksDB UDP server under the default reuseport
# hash, round_robin, scan_avoid and sita: p99 latency vs offered load. `--quick`: fewer points.
set -euo pipefail
NAME=fig6
source "$(dirname "${BASH_SOURCE[0]}")/kv.sh"
if [[ -n $QUICK ]]; then
  RATES=${RATES:-10000,30000,50000} RUNS=${RUNS:-1} DURATION=${DURATION:-1.5} WARMUP=${WARMUP:-0.3}
else
  RATES=${RATES:-10000,20000,30000,40000,45000,50000,55000,60000,65000,70000} RUNS=${RUNS:-3} DURATION=${DURATION:-3} WARMUP=${WARMUP:-0.5}
fi
SLO_US=${SLO_US:-5000}
kv_init
kv_runs "{$RATES} rps, 0.5% SCAN" 0.005 default round_robin scan_avoid sita
kv_report "99.5% GET / 0.5% SCAN, $THREADS threads: p99 latency vs offered load" default
