#!/usr/bin/env bash
# Deploy benchmark: deploy latency p50/p99 of a first compile and of a cached policy, and with
# 100 and 1000 deployments live the cost of one more deploy/undeploy, list and stats
# (dev.syrup.daemon.bench.DeployBench, daemon-bundle test sources; syrupd in process, socket_select,
# the real kernel). Goals: cached <= 20 ms, first compile <= 1.5 s.
# Output: results/deploy-<UTC timestamp>/{summary.md,deploy.csv,machine.txt}.
# Knobs (env): SAMPLES=200 (per number live) FIRST=5 (first compiles) LIVE="0 100 1000"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
MODULE=daemon-bundle
SAMPLES=${SAMPLES:-200} FIRST=${FIRST:-5} LIVE=${LIVE:-"0 100 1000"}
REPEAT=- ROUNDS=-
OUT="$ROOT/results/deploy-$(date -u +%Y%m%dT%H%M%SZ)"
step() { printf 'bench deploy: %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || { step "needs root (bpf() program loads)"; exit 1; }
mkdir -p "$OUT"
cd "$ROOT"
# shellcheck source=shim.sh
. "$ROOT/bench/shim.sh"

step "[1/2] building $MODULE test classes and their classpath"
shim_build "$MODULE" dev/syrup/daemon/bench/DeployBench api-bundle native client bpf-bundle backend-ebpf-bundle isolation-bundle
shim_machine

step "[2/2] $FIRST first compiles, $SAMPLES cached deploys with each of: $LIVE deployments live"
ulimit -n 65536 2>/dev/null || true
java -cp "$CP" dev.syrup.daemon.bench.DeployBench "$OUT" "$SAMPLES" "$FIRST" $LIVE
step "results in ${OUT#"$ROOT/"}"
