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
mvn_build() {
  mvn -B -ntp -q "$@" test-compile dependency:build-classpath \
    -Dmdep.includeScope=test -Dmdep.outputFile="$OUT/classpath.txt" >"$OUT/build.log" 2>&1
}
mvn_build -o -pl "$MODULE" -am || mvn_build -pl "$MODULE" -am || { tail -n 30 "$OUT/build.log" >&2; exit 1; }
# Snapshot the compiled classes: others may rebuild (or clean) the modules meanwhile.
for m in "$MODULE" backend-ebpf-bundle api-bundle; do
  cp -r "$m/target/classes" "$OUT/$m-classes"
  sed -i "s|$ROOT/$m/target/classes|$OUT/$m-classes|g" "$OUT/classpath.txt"
done
cp -r "$MODULE/target/test-classes" "$OUT/test-classes"
[[ -f $OUT/test-classes/dev/syrup/isolation/bench/DispatchBench.class ]] ||
  { step "no DispatchBench class: was the module cleaned meanwhile?"; exit 1; }
CP="$OUT/test-classes:$OUT/$MODULE-classes:$(cat "$OUT/classpath.txt")"

step "[2/3] policies and headers"
shim_policies $POLICIES
shim_machine

step "[3/3] ${#files[@]} policies x 2 variants x $ROUNDS samples x $REPEAT runs"
java -cp "$CP" dev.syrup.isolation.bench.DispatchBench "$OUT" "$OUT/include" "$REPEAT" "$ROUNDS" "${files[@]}"
step "results in ${OUT#"$ROOT/"}"
