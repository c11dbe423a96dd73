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
mkdir -p "$OUT/include" "$OUT/policies"
cp api-bundle/src/main/resources/dev/syrup/api/syrup.h "$OUT/include/"
files=()
for p in $POLICIES; do
  cp "daemon-bundle/src/main/resources/dev/syrup/daemon/policies/$p.c" "$OUT/policies/"
  files+=("$OUT/policies/$p.c")
done
printf '#include "syrup.h"\nuint32_t schedule(void *pkt_start, void *pkt_end)\n{\n\treturn 0;\n}\n' >"$OUT/policies/constant.c"
files=("$OUT/policies/constant.c" "${files[@]}")
{
  echo "cores=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "java=$(java -version 2>&1 | head -n 1)"
  echo "clang=$(clang --version | head -n 1)"
  echo "settings=REPEAT=$REPEAT runs per sample, ROUNDS=$ROUNDS samples per variant"
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "spectre_v2=$(cat /sys/devices/system/cpu/vulnerabilities/spectre_v2 2>/dev/null)"
  echo "bpf_jit_harden=$(cat /proc/sys/net/core/bpf_jit_harden 2>/dev/null)"
} >"$OUT/machine.txt"

step "[3/3] ${#files[@]} policies x 2 variants x $ROUNDS samples x $REPEAT runs"
java -cp "$CP" dev.syrup.isolation.bench.DispatchBench "$OUT" "$OUT/include" "$REPEAT" "$ROUNDS" "${files[@]}"
step "results in ${OUT#"$ROOT/"}"
