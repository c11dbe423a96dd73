#!/usr/bin/env bash
# Paper Figure 8 (§5.3): 50% GET / 50% SCAN on the RocksDB UDP server with more worker threads
# than cores; GET and SCAN p99 vs offered load under (a) the Linux default (reuseport hash + CFS),
# (b) scan_avoid at socket_select only, (c) get_priority at thread_scheduler only, (d) both,
# sharing the Map scan (worker i serves socket i and is thread i). `--quick`: fewer points.
set -euo pipefail
NAME=fig8
THREADS=${THREADS:-8}
source "$(dirname "${BASH_SOURCE[0]}")/kv.sh"
if [[ -n $QUICK ]]; then
  RATES=${RATES:-300,900,1500} RUNS=${RUNS:-1} DURATION=${DURATION:-1.5} WARMUP=${WARMUP:-0.3}
else
  RATES=${RATES:-300,600,900,1200,1500,1800,2100,2400} RUNS=${RUNS:-2} DURATION=${DURATION:-3} WARMUP=${WARMUP:-0.5}
fi
# A GET p99 SLO above this machine's floor: a SCAN (~75 GETs) takes about 1 ms here.
SLO_US=${SLO_US:-3000}
KV_LOADGEN="--by-type"
kv_thr=""

kv_on_exit() { [[ -n $kv_thr ]] && "$ROOT/syrup" shell "syrup:undeploy $kv_thr" >/dev/null 2>&1; kv_thr=""; }

# The pinned Map `scan` of deployment $1, for the server's workers to mark SCANs in.
fig8_scan_map() {
  local map
  for _ in $(seq 50); do
    map=$(find /sys/fs/bpf/syrup -path "*/$1/scan" 2>/dev/null | head -n 1)
    [[ -n $map ]] && break; sleep 0.1
  done
  [[ -n $map ]] || { kv_step "no pinned Map 'scan' for deployment $1"; exit 1; }
  echo "$map" >"$kv_tmp/scan-map"
}

# get_priority at thread_scheduler on the port; the server registers its workers with it.
fig8_threads() {
  local out log="$OUT/server-$1.log" before
  before=$(kv_count '^threads-registered' "$log")
  out=$("$ROOT/syrup" shell "syrup:deploy get_priority --hook thread_scheduler --port $PORT -D NUM_THREADS=$THREADS" 2>&1) ||
    { echo "$out" >&2; kv_step "syrup:deploy get_priority failed"; exit 1; }
  kv_thr=$(printf '%s\n' "$out" | tr -d '\r' | awk 'NF { w = $NF } END { print w }')
  [[ -n $kv_thr && $out != *rror* ]] || { echo "$out" >&2; kv_step "get_priority: no deployment id"; exit 1; }
  echo "$kv_thr" >"$kv_tmp/threads-id"
  for _ in $(seq 100); do (( $(kv_count '^threads-registered' "$log") > before )) && break; sleep 0.1; done
  (( $(kv_count '^threads-registered' "$log") > before )) || { kv_step "KvServer did not register its threads"; exit 1; }
}

fig8_wait_map() {
  local log="$OUT/server-$1.log"
  for _ in $(seq 50); do (( $(kv_count '^scan-map' "$log") >= $2 )) && break; sleep 0.1; done
  (( $(kv_count '^scan-map' "$log") >= $2 )) || { kv_step "KvServer did not open the scan Map"; exit 1; }
}

fig8_run=0
kv_server_args_get_priority() { echo --scan-map-file "$kv_tmp/scan-map" --threads-id-file "$kv_tmp/threads-id"; }
kv_server_args_both() { kv_server_args_get_priority; }
kv_deploy_get_priority() {
  fig8_threads get_priority
  fig8_scan_map "$kv_thr"
  fig8_wait_map get_priority "$(kv_count '^threads-registered' "$OUT/server-get_priority.log")"
}
kv_deploy_both() {
  kv_deploy scan_avoid
  fig8_threads both  # NUM_THREADS = the socket count: the thread policy gets scan_avoid's Map
  fig8_scan_map "$kv_id"
  fig8_wait_map both "$(kv_count '^threads-registered' "$OUT/server-both.log")"
}
kv_undeploy_get_priority() { kv_on_exit; }
kv_undeploy_both() { kv_on_exit; }

kv_init
kv_runs "{$RATES} rps, 50% SCAN, $THREADS threads" 0.5 default scan_avoid get_priority both
kv_report "50% GET / 50% SCAN, $THREADS threads on $(nproc) cores: GET and SCAN p99 vs offered load" default-GET

# The paper's claim, measured in this run: (d)'s sustained GET load against the best single layer's.
# (the summary's table: "| LABEL-GET | <rps, or none of the loads tried> | ...")
get() { awk -F'|' -v l=" $1-GET " '$2 == l && !seen { v = $3 + 0; seen = 1 } END { print v + 0 }' "$OUT/summary.md"; }
b=$(get scan_avoid) c=$(get get_priority) d=$(get both) a=$(get default)
best=$(( b > c ? b : c ))
{
  echo
  echo "### Cross-layer (d) vs the best single layer, GET p99 SLO $SLO_US us"
  echo
  echo "Sustained GET load: default $a, scan_avoid (b) $b, get_priority (c) $c, both (d) $d rps."
  if (( best > 0 )); then
    echo "(d) / max((b), (c)) = $(awk -v d="$d" -v m="$best" 'BEGIN { printf "%.2f", d / m }') (paper: 1.6)."
  else
    echo "Neither single layer met the SLO at any load tried: (d) sustained $d rps."
  fi
} >>"$OUT/summary.md"
kv_step "done: $OUT/summary.md"
