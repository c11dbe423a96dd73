#!/usr/bin/env bash
# Maps benchmark: u32 -> u64 BPF map access from Java (dev.syrup.bpf BpfMap / MappedArray, JMH)
# against C (libbpf, bench/c/mapbench.c), in one run so that ratios share the machine's noise.
# The C baseline runs before and after JMH; its median is taken over both runs.
# Output: results/maps-<UTC timestamp>/{maps.csv,summary.md} and the raw logs.
# Knobs (env): FORKS=2 WARMUPS=3 ITERATIONS=4 (JMH, 1 s each), C_ITERS=200000 C_REPS=5 C_MMAP_ITERS=50000000
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
MODULE=backend-ebpf-bundle
FORKS=${FORKS:-2} WARMUPS=${WARMUPS:-3} ITERATIONS=${ITERATIONS:-4}
C_ITERS=${C_ITERS:-200000} C_REPS=${C_REPS:-5} C_MMAP_ITERS=${C_MMAP_ITERS:-50000000}
OUT="$ROOT/results/maps-$(date -u +%Y%m%dT%H%M%SZ)"
step() { printf 'bench maps: %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || { step "needs root (bpf() map creation)"; exit 1; }
mkdir -p "$OUT"
cd "$ROOT"

step "[1/6] building $MODULE test classes (JMH benchmarks) and their classpath"
mvn_build() {
  mvn -B -ntp -q "$@" test-compile dependency:build-classpath \
    -Dmdep.includeScope=test -Dmdep.outputFile="$OUT/classpath.txt" >"$OUT/build.log" 2>&1
}
mvn_build -o -pl "$MODULE" || mvn_build -pl "$MODULE" -am ||
  { tail -n 30 "$OUT/build.log" >&2; exit 1; }
# Snapshot the compiled classes: others may rebuild (or clean) the module while JMH runs.
cp -r "$MODULE/target/classes" "$OUT/classes" && cp -r "$MODULE/target/test-classes" "$OUT/test-classes"
[[ -f $OUT/test-classes/META-INF/BenchmarkList ]] || { step "no JMH BenchmarkList: was the module cleaned meanwhile?"; exit 1; }
CP="$OUT/test-classes:$OUT/classes:$(cat "$OUT/classpath.txt")"

step "[2/6] compiling bench/c/mapbench.c"
gcc -O2 -Wall -o "$OUT/mapbench" bench/c/mapbench.c -lbpf

step "[3/6] C baseline, first run ($C_REPS x 6 loops)"
"$OUT/mapbench" "$C_ITERS" "$C_REPS" "$C_MMAP_ITERS" >"$OUT/c-raw.csv"

step "[4/6] JMH: 9 benchmarks x $FORKS forks x ($WARMUPS + $ITERATIONS) s"
java -Duser.language=en -Duser.country=US -cp "$CP" org.openjdk.jmh.Main 'dev\.syrup\.bpf\.bench\.MapBench\.' \
  -f "$FORKS" -wi "$WARMUPS" -w 1s -i "$ITERATIONS" -r 1s -prof gc -rf csv -rff "$OUT/jmh.csv" |
  tee "$OUT/jmh.log" | sed -un 's/^# Benchmark: dev\.syrup\.bpf\.bench\./bench maps:       /p' >&2

step "[5/6] C baseline, second run"
"$OUT/mapbench" "$C_ITERS" "$C_REPS" "$C_MMAP_ITERS" >>"$OUT/c-raw.csv"

step "[6/6] summary"
{
  echo "cores=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "java=$(java -version 2>&1 | head -n 1)"
  echo "libbpf=$(dpkg-query -W -f='${Version}' libbpf1 2>/dev/null || echo unknown)"
  echo "settings=JMH $FORKS forks, $WARMUPS x 1 s warmup, $ITERATIONS x 1 s measurement, avgt; C $C_REPS+$C_REPS reps of $C_ITERS syscalls / $C_MMAP_ITERS mmap accesses"
} >"$OUT/machine.txt"
awk -v csv="$OUT/maps.csv" -f bench/maps-summary.awk "$OUT/machine.txt" "$OUT/c-raw.csv" "$OUT/jmh.csv" "$OUT/jmh.log" >"$OUT/summary.md"
cat "$OUT/summary.md"
step "results in ${OUT#"$ROOT/"}"
