#!/usr/bin/env bash
# Root XDP dispatcher benchmark: what xdp_dispatch.bpf.o (parse, (proto,port) lookup, tail call)
# adds in front of a policy, via BPF_PROG_TEST_RUN: each policy as an XDP shim run directly and
# behind the dispatcher (dev.syrup.isolation.bench.DispatchBench, isolation-bundle test sources).
# Goal: <= 20 ns. Output: results/dispatch-<UTC timestamp>/{summary.md,dispatch.csv,shims/,machine.txt}.
# Knobs (env): REPEAT=2000000 (runs per sample) ROUNDS=9 (samples per variant)
#              POLICIES="round_robin hash" (built-ins; a constant policy is always added)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
MODULE=isolation-bundle
REPEAT=${REPEAT:-2000000} ROUNDS=${ROUNDS:-9}
POLICIES=${POLICIES:-"round_robin hash"}
OUT="$ROOT/results/dispatch-$(date -u +%Y%m%dT%H%M%SZ)"
step() { printf 'bench dispatch: %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || { step "needs root (bpf() program loads)"; exit 1; }
mkdir -p "$OUT"
cd "$ROOT"
# shellcheck source=shim.sh
. "$ROOT/bench/shim.sh"

step "[1/3] building $MODULE test classes and their classpath"
shim_build "$MODULE" dev/syrup/isolation/bench/DispatchBench bpf-bundle api-bundle native

step "[2/3] policies and headers"
shim_policies $POLICIES
shim_machine

step "[3/3] ${#files[@]} policies x 2 variants x $ROUNDS samples x $REPEAT runs"
java -cp "$CP" dev.syrup.isolation.bench.DispatchBench "$OUT" "$OUT/include" "$REPEAT" "$ROUNDS" "${files[@]}"
step "results in ${OUT#"$ROOT/"}"
