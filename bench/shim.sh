# Shared by the BPF_PROG_TEST_RUN benchmarks (stats, dispatch); sourced, needs OUT, REPEAT, ROUNDS.

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
