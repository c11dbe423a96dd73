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

step "[1/3] building $MODULE test classes and their classpath"
mvn_build() {
  mvn -B -ntp -q "$@" test-compile dependency:build-classpath \
    -Dmdep.includeScope=test -Dmdep.outputFile="$OUT/classpath.txt" >"$OUT/build.log" 2>&1
}
# With -am: the API classes come from this checkout (api-bundle/target/classes), not from
# whatever syrup-api another build last installed.
mvn_build -o -pl "$MODULE" -am || mvn_build -pl "$MODULE" -am ||
  { tail -n 30 "$OUT/build.log" >&2; exit 1; }
# Snapshot the compiled classes: others may rebuild (or clean) the modules meanwhile.
cp -r "$MODULE/target/classes" "$OUT/classes" && cp -r "$MODULE/target/test-classes" "$OUT/test-classes"
cp -r api-bundle/target/classes "$OUT/api-classes"
sed -i "s|$ROOT/api-bundle/target/classes|$OUT/api-classes|g" "$OUT/classpath.txt"
[[ -f $OUT/test-classes/dev/syrup/backend/ebpf/StatsOverheadBench.class ]] ||
  { step "no StatsOverheadBench class: was the module cleaned meanwhile?"; exit 1; }
CP="$OUT/test-classes:$OUT/classes:$(cat "$OUT/classpath.txt")"

step "[2/3] policies and headers"
mkdir -p "$OUT/include" "$OUT/policies"
cp api-bundle/src/main/resources/dev/syrup/api/syrup.h "$OUT/include/"
files=()
for p in $POLICIES; do
  cp "daemon-bundle/src/main/resources/dev/syrup/daemon/policies/$p.c" "$OUT/policies/"
  files+=("$OUT/policies/$p.c")
done
# The cheapest policy there is: the counters' cost relative to it is the worst case.
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
} >"$OUT/machine.txt"

step "[3/3] ${#files[@]} policies x 2 variants x $ROUNDS samples x $REPEAT runs"
java -cp "$CP" dev.syrup.backend.ebpf.StatsOverheadBench "$OUT" "$OUT/include" "$REPEAT" "$ROUNDS" "${files[@]}"
step "results in ${OUT#"$ROOT/"}"
