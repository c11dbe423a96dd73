#!/usr/bin/env bash
# Decision-counter benchmark: what the per-deployment counters (syr_stats, counted by the hook
# glue after schedule()) cost per decision. sk_reuseport has no BPF_PROG_TEST_RUN, so each policy
# is built as an XDP shim with and without the counters and run with Xdp.testRun
# (dev.syrup.backend.ebpf.StatsOverheadBench, backend-ebpf-bundle test sources). Goal: <= 10 ns.
# Output: results/stats-<UTC timestamp>/{summary.md,stats.csv,shims/,machine.txt}.
# Knobs (env): REPEAT=2000000 (runs per sample) ROUNDS=9 (samples per variant)
#              POLICIES="round_robin hash sita" (built-ins; a constant policy is always added)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
MODULE=backend-ebpf-bundle
REPEAT=${REPEAT:-2000000} ROUNDS=${ROUNDS:-9}
POLICIES=${POLICIES:-"round_robin hash sita"}
OUT="$ROOT/results/stats-$(date -u +%Y%m%dT%H%M%SZ)"
step() { printf 'bench stats: %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || { step "needs root (bpf() program loads)"; exit 1; }
mkdir -p "$OUT"
cd "$ROOT"
# shellcheck source=shim.sh
. "$ROOT/bench/shim.sh"

step "[1/3] building $MODULE test classes and their classpath"
shim_build "$MODULE" dev/syrup/backend/ebpf/StatsOverheadBench bpf-bundle api-bundle native

step "[2/3] policies and headers"
shim_policies $POLICIES
shim_machine

step "[3/3] ${#files[@]} policies x 2 variants x $ROUNDS samples x $REPEAT runs"
java -cp "$CP" dev.syrup.backend.ebpf.StatsOverheadBench "$OUT" "$OUT/include" "$REPEAT" "$ROUNDS" "${files[@]}"
step "results in ${OUT#"$ROOT/"}"
