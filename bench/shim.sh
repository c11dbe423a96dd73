# Shared by the BPF_PROG_TEST_RUN benchmarks (stats, dispatch); sourced, needs ROOT, OUT, REPEAT, ROUNDS
# and step(); run from $ROOT.

# shim_build MODULE BENCH_CLASS [MODULE...]: compiles MODULE's tests with the modules it needs
# (SHIM_MVN_ARGS: more Maven arguments for the offline build, e.g. -Dmaven.repo.local=DIR)
# (-am: the API classes come from this checkout, not from whatever another build last installed),
# snapshots the classes of MODULE and of each other MODULE named (others may rebuild or clean them
# meanwhile) and sets CP to run BENCH_CLASS (a test class, path relative to test-classes).
shim_build() {
  local module=$1 bench=$2 m
  shift 2
  _shim_mvn() {
    mvn -B -ntp -q "$@" test-compile dependency:build-classpath \
      -Dmdep.includeScope=test -Dmdep.outputFile="$OUT/classpath.txt" >"$OUT/build.log" 2>&1
  }
  _shim_mvn -o ${SHIM_MVN_ARGS:-} -pl "$module" -am || _shim_mvn -pl "$module" -am || { tail -n 30 "$OUT/build.log" >&2; exit 1; }
  for m in "$module" "$@"; do
    cp -r "$m/target/classes" "$OUT/$m-classes"
    sed -i "s|$ROOT/$m/target/classes|$OUT/$m-classes|g" "$OUT/classpath.txt"
  done
  cp -r "$module/target/test-classes" "$OUT/test-classes"
  [[ -f $OUT/test-classes/$bench.class ]] || { step "no $bench class: was $module cleaned meanwhile?"; exit 1; }
  CP="$OUT/test-classes:$OUT/$module-classes:$(cat "$OUT/classpath.txt")"
}

# shim_policies NAME...: copies syrup.h to $OUT/include and the built-ins NAME... to $OUT/policies,
# adds the cheapest policy there is (constant 0, the worst case for any relative cost), and sets
# the array `files` to the policy files, constant first.
shim_policies() {
  mkdir -p "$OUT/include" "$OUT/policies"
  cp api-bundle/src/main/resources/dev/syrup/api/syrup.h "$OUT/include/"
  printf '#include "syrup.h"\nuint32_t schedule(void *pkt_start, void *pkt_end)\n{\n\treturn 0;\n}\n' >"$OUT/policies/constant.c"
  files=("$OUT/policies/constant.c")
  local p
  for p in "$@"; do
    cp "daemon-bundle/src/main/resources/dev/syrup/daemon/policies/$p.c" "$OUT/policies/"
    files+=("$OUT/policies/$p.c")
  done
}

# shim_machine: what the numbers depend on, to $OUT/machine.txt.
shim_machine() {
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
}
