#!/usr/bin/env bash
# Paper Figure 2: 100% GET on the RocksDB UDP server, the kernel's default reuseport hash vs the
# round_robin policy: p99 latency vs offered load. `--quick`: fewer points, one run (< 2 min).
set -euo pipefail
NAME=fig2
source "$(dirname "${BASH_SOURCE[0]}")/kv.sh"
if [[ -n $QUICK ]]; then
  RATES=${RATES:-10000,30000,50000} RUNS=${RUNS:-1} DURATION=${DURATION:-1} WARMUP=${WARMUP:-0.3}
else
  RATES=${RATES:-10000,20000,30000,40000,50000,55000,60000,65000,70000,75000,80000} RUNS=${RUNS:-3} DURATION=${DURATION:-2} WARMUP=${WARMUP:-0.5}
fi
SLO_US=${SLO_US:-5000}
kv_init
kv_runs "{$RATES} rps, 100% GET" 0 default round_robin
kv_report "100% GET, $THREADS threads: p99 latency vs offered load" default
