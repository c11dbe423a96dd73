#!/usr/bin/env bash
# Maps benchmark: u32 -> u64 BPF map access from Java (dev.syrup.bpf BpfMap / MappedArray, JMH)
# against C (libbpf, bench/c/mapbench.c), in one run so that ratios share the machine's noise.
# Each Java benchmark runs between two C loops of the same operation; medians are over both.
# Output: results/maps-<UTC timestamp>/{maps.csv,summary.md} and the raw logs.
# The *Batch rows: BPF_MAP_LOOKUP_BATCH/UPDATE_BATCH over the whole 1024-entry map, 256 elements
# per call, in ns per element, against C's batch and against the single-element Java call.
# The contended* rows (MapContendedBench, JMH @Threads(2); mapbench's two-pthread mode): ARRAY
# lookup/update and mmap getLong/addAndGet, both threads on the same key; fewer JMH runs (1 fork,
# CT_WARMUPS x 1 s warmup, CT_ITERATIONS x 1 s) to keep the whole run within about 8 minutes.
# Knobs (env): FORKS=2 WARMUPS=3 ITERATIONS=4 (JMH, 1 s each), C_ITERS=200000 C_REPS=3 C_MMAP_ITERS=50000000
#   CT_FORKS=1 CT_WARMUPS=2 CT_ITERATIONS=3 (the contended rows)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
MODULE=bpf-bundle
FORKS=${FORKS:-2} WARMUPS=${WARMUPS:-3} ITERATIONS=${ITERATIONS:-4}
C_ITERS=${C_ITERS:-200000} C_REPS=${C_REPS:-3} C_MMAP_ITERS=${C_MMAP_ITERS:-50000000}
CT_FORKS=${CT_FORKS:-1} CT_WARMUPS=${CT_WARMUPS:-2} CT_ITERATIONS=${CT_ITERATIONS:-3}
OUT="$ROOT/results/maps-$(date -u +%Y%m%dT%H%M%SZ)"
step() { printf 'bench maps: %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || { step "needs root (bpf() map creation)"; exit 1; }
mkdir -p "$OUT"
cd "$ROOT"

step "[1/4] building $MODULE test classes (JMH benchmarks) and their classpath"
mvn_build() {
  mvn -B -ntp -q "$@" test-compile dependency:build-classpath \
    -Dmdep.includeScope=test -Dmdep.outputFile="$OUT/classpath.txt" >"$OUT/build.log" 2>&1
}
# (SYRUP_MVN_ARGS: more Maven arguments, e.g. -Dmaven.repo.local=DIR)
mvn_build -o ${SYRUP_MVN_ARGS:-} -pl "$MODULE" || mvn_build -pl "$MODULE" -am ||
  { tail -n 30 "$OUT/build.log" >&2; exit 1; }
# Snapshot the compiled classes: others may rebuild (or clean) the module while JMH runs.
cp -r "$MODULE/target/classes" "$OUT/classes" && cp -r "$MODULE/target/test-classes" "$OUT/test-classes"
[[ -f $OUT/test-classes/META-INF/BenchmarkList ]] || { step "no JMH BenchmarkList: was the module cleaned meanwhile?"; exit 1; }
CP="$OUT/test-classes:$OUT/classes:$(cat "$OUT/classpath.txt")"

step "[2/4] compiling bench/c/mapbench.c"
gcc -O2 -Wall -o "$OUT/mapbench" bench/c/mapbench.c -lbpf -lpthread

# Each Java benchmark runs between two C loops of the operation it is compared with, so that both
# see the same noise. Java benchmark -> C operation:
declare -A C_OP=([arrayLookup]=arrayLookup [arrayUpdate]=arrayUpdate [hashLookup]=hashLookup
  [hashUpdate]=hashUpdate [mmapGetLong]=mmapGetLong [mmapAddAndGet]=mmapAddAndGet
  [rawArrayLookupBytes]=arrayLookup [rawArrayLookupPointer]=arrayLookup [rawArrayUpdatePointer]=arrayUpdate
  [hashLookupBatch]=hashLookupBatch [arrayLookupBatch]=arrayLookupBatch [hashUpdateBatch]=hashUpdateBatch
  [arrayUpdateBatch]=arrayUpdateBatch
  [contendedArrayLookup]=contendedArrayLookup [contendedArrayUpdate]=contendedArrayUpdate
  [contendedMmapGetLong]=contendedMmapGetLong [contendedMmapAddAndGet]=contendedMmapAddAndGet)
BENCHES=(arrayLookup arrayUpdate hashLookup hashUpdate mmapGetLong mmapAddAndGet
  hashLookupBatch arrayLookupBatch hashUpdateBatch arrayUpdateBatch
  rawArrayLookupBytes rawArrayLookupPointer rawArrayUpdatePointer
  contendedArrayLookup contendedArrayUpdate contendedMmapGetLong contendedMmapAddAndGet)
c_loops() {  # c_loops BENCH: C_REPS loops of BENCH's C operation, lines "BENCH:op,rep,ns_per_op"
  "$OUT/mapbench" "$C_ITERS" "$C_REPS" "$C_MMAP_ITERS" "${C_OP[$1]}" | sed "s/^/$1:/" >>"$OUT/c-raw.csv"
  # syscall rows also against C with an idle second thread, as every JVM has ("mt:BENCH:op,...")
  if [[ $1 != contended* && ${C_OP[$1]} != mmap* ]]; then
    MAPBENCH_IDLE_THREAD=1 "$OUT/mapbench" "$C_ITERS" "$C_REPS" "$C_MMAP_ITERS" "${C_OP[$1]}" | sed "s/^/mt:$1:/" >>"$OUT/c-raw.csv"
  fi
}
step "[3/4] ${#BENCHES[@]} benchmarks, each: C ($C_REPS loops), JMH ($FORKS forks x ($WARMUPS + $ITERATIONS) s; contended: $CT_FORKS x ($CT_WARMUPS + $CT_ITERATIONS) s, 2 threads), C again"
: >"$OUT/c-raw.csv"; : >"$OUT/jmh.log"
for k in "${!BENCHES[@]}"; do
  b=${BENCHES[$k]}
  step "      $((k + 1))/${#BENCHES[@]} $b (C: ${C_OP[$b]})"
  if [[ $b == contended* ]]; then cls=MapContendedBench f=$CT_FORKS wi=$CT_WARMUPS it=$CT_ITERATIONS
  else cls=MapBench f=$FORKS wi=$WARMUPS it=$ITERATIONS; fi
  c_loops "$b"
  java -Duser.language=en -Duser.country=US -cp "$CP" org.openjdk.jmh.Main "dev\\.syrup\\.bpf\\.bench\\.$cls\\.$b\$" \
    -f "$f" -wi "$wi" -w 1s -i "$it" -r 1s -prof gc -rf csv -rff "$OUT/jmh-$b.csv" >>"$OUT/jmh.log"
  c_loops "$b"
done
step "      + BpfMapOverheadBench (BpfMap's own work without the syscall; pure CPU: 1 fork)"
java -Duser.language=en -Duser.country=US -cp "$CP" org.openjdk.jmh.Main 'dev\.syrup\.bpf\.bench\.BpfMapOverheadBench\.' \
  -f 1 -wi "$WARMUPS" -w 1s -i "$ITERATIONS" -r 1s -prof gc -rf csv -rff "$OUT/jmh-overhead.csv" >>"$OUT/jmh.log"
awk 'FNR > 1 || NR == 1' "$OUT"/jmh-*.csv >"$OUT/jmh.csv" && rm "$OUT"/jmh-*.csv

step "[4/4] summary"
{
  echo "cores=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "java=$(java -version 2>&1 | head -n 1)"
  echo "libbpf=$(dpkg-query -W -f='${Version}' libbpf1 2>/dev/null || echo unknown)"
  echo "settings=JMH $FORKS forks, $WARMUPS x 1 s warmup, $ITERATIONS x 1 s measurement, avgt; C $C_REPS+$C_REPS loops (around each JMH benchmark) of $C_ITERS syscalls / $C_MMAP_ITERS mmap accesses; contended rows: 2 threads on one key, JMH $CT_FORKS fork, $CT_WARMUPS x 1 s warmup, $CT_ITERATIONS x 1 s, C $C_ITERS syscalls / $((C_MMAP_ITERS / 10)) mmap accesses per thread"
} >"$OUT/machine.txt"
awk -v csv="$OUT/maps.csv" -f bench/maps-summary.awk "$OUT/machine.txt" "$OUT/c-raw.csv" "$OUT/jmh.csv" "$OUT/jmh.log" >"$OUT/summary.md"
cat "$OUT/summary.md"
step "results in ${OUT#"$ROOT/"}"
