#!/usr/bin/env bash
# Java client benchmark: Map operations from an unprivileged application (a child JVM run with
# setpriv as uid $APP_UID) against a syrupd started in-process by the harness
# (dev.syrup.daemon.control.bench.ClientMapBench, daemon-bundle test sources): mmap fast path
# read and atomic add (ns/op) on an array Map, lookup/update through syrupd (us/op) on a HASH Map.
# Output: results/client-<UTC timestamp>/{summary.md,client.csv,machine.txt}.
# Knobs (env): N=5000000 (fast-path ops per sample) M=5000 (socket ops per sample) ROUNDS=9 APP_UID=23403
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
MODULE=daemon-bundle
N=${N:-5000000} M=${M:-5000} ROUNDS=${ROUNDS:-9} APP_UID=${APP_UID:-23403}
OUT="$ROOT/results/client-$(date -u +%Y%m%dT%H%M%SZ)"
step() { printf 'bench client: %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || { step "needs root (in-process syrupd, setpriv)"; exit 1; }
mkdir -p "$OUT"
cd "$ROOT"

step "[1/2] building $MODULE test classes and their classpath"
mvn_build() {
  mvn -B -ntp -q "$@" test-compile dependency:build-classpath \
    -Dmdep.includeScope=test -Dmdep.outputFile="$OUT/classpath.txt" >"$OUT/build.log" 2>&1
}
mvn_build -o -pl "$MODULE" -am || mvn_build -pl "$MODULE" -am || { tail -n 30 "$OUT/build.log" >&2; exit 1; }
# Snapshot the compiled classes: others may rebuild (or clean) the modules meanwhile.
for m in "$MODULE" api-bundle native client bpf-bundle backend-ebpf-bundle isolation-bundle backend-xdp-offload-bundle; do
  [[ -d $m/target/classes ]] || continue
  cp -r "$m/target/classes" "$OUT/$m-classes"
  sed -i "s|$ROOT/$m/target/classes|$OUT/$m-classes|g" "$OUT/classpath.txt"
done
cp -r "$MODULE/target/test-classes" "$OUT/test-classes"
[[ -f $OUT/test-classes/dev/syrup/daemon/control/bench/ClientMapBench.class ]] ||
  { step "no ClientMapBench class: was the module cleaned meanwhile?"; exit 1; }
CP="$OUT/test-classes:$OUT/$MODULE-classes:$(cat "$OUT/classpath.txt")"
{
  echo "cores=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "java=$(java -version 2>&1 | head -n 1)"
  echo "settings=N=$N fast-path ops and M=$M socket ops per sample, ROUNDS=$ROUNDS samples, app uid $APP_UID"
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

step "[2/2] app as uid $APP_UID: $ROUNDS samples"
java -cp "$CP" dev.syrup.daemon.control.bench.ClientMapBench "$OUT" "$APP_UID" "$N" "$M" "$ROUNDS"
rm -rf "$OUT"/*-classes "$OUT/test-classes"
step "results in ${OUT#"$ROOT/"}"
