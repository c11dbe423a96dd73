#!/usr/bin/env bash
# Paper Table 2: per policy, lines of code, instructions, and the cost of one decision.
# sk_reuseport programs cannot be test-run, so each policy is compiled into an XDP shim
# (bench/table2/xdp_shim.c) that calls schedule() on a crafted UDP GET packet; BPF_PROG_TEST_RUN
# (`bpftool prog run ... repeat`) times it against a bare `return XDP_PASS` program (the floor),
# alternating floor and policy, REPS times each; medians. Cost = shim - floor (ns) and the ratio
# shim/floor. Instructions: BPF (xlated) and x86 (JIT image, objdump) of the whole shim.
# Output: results/table2-<UTC>/{table2.csv,summary.md}. Knobs: REPEAT=2000000 REPS=5 NUM_EXECUTORS=6
# (the paper's six threads). `--quick`: REPEAT=200000 REPS=3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
REPEAT=${REPEAT:-2000000} REPS=${REPS:-5} NEXEC=${NUM_EXECUTORS:-6}
[[ ${1:-} == --quick ]] && { REPEAT=200000; REPS=3; }
OUT="$ROOT/results/table2-$(date -u +%Y%m%dT%H%M%SZ)"
PIN=/sys/fs/bpf/syrup-bench-table2-$$
POLDIR="$ROOT/daemon-bundle/src/main/resources/dev/syrup/daemon/policies"
step() { printf 'bench table2: %s\n' "$*" >&2; }
[[ $EUID -eq 0 ]] || { step "needs root (BPF_PROG_TEST_RUN)"; exit 1; }
mkdir -p "$OUT" "$PIN"
trap 'rm -rf "$PIN"' EXIT

# Policies: the built-ins of the paper's Table 2.
POLICIES=(round_robin scan_avoid sita token)
declare -A SRC=()
for p in "${POLICIES[@]}"; do
  SRC[$p]=$POLDIR/$p.c
  [[ -f ${SRC[$p]} ]] || { step "no built-in policy $p in $POLDIR"; exit 1; }
done

# The test packet: Ethernet + IPv4 + UDP (port 40000 -> 9100) + struct syr_request {GET, user 1}.
printf '\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00' >"$OUT/pkt.bin"
printf '\x45\x00\x00\x24\x00\x00\x40\x00\x40\x11\x00\x00\x7f\x00\x00\x01\x7f\x00\x00\x01' >>"$OUT/pkt.bin"
printf '\x9c\x40\x23\x8c\x00\x10\x00\x00' >>"$OUT/pkt.bin"
printf '\x00\x00\x00\x00\x01\x00\x00\x00' >>"$OUT/pkt.bin"

cflags=(-O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -DNUM_EXECUTORS="$NEXEC" -I "$ROOT/api-bundle/src/main/resources/dev/syrup/api"
  -I "/usr/include/$(uname -m)-linux-gnu" -Wno-unused-value)
load() {  # load NAME OBJ: pins the program at $PIN/NAME, its maps under $PIN/NAME_maps
  mkdir -p "$PIN/$1_maps"
  bpftool prog load "$2" "$PIN/$1" type xdp pinmaps "$PIN/$1_maps"
}
run_ns() {  # run_ns NAME: average ns per run of REPEAT
  bpftool prog run pinned "$PIN/$1" data_in "$OUT/pkt.bin" repeat "$REPEAT" 2>&1 |
    sed -n 's/.*Return value: \([0-9]*\), duration (average): \([0-9]*\)ns.*/\2 \1/p'
}
insns() {  # insns NAME: "BPF x86": BPF (xlated) instructions; x86 instructions of the JIT image when
  # bpftool can dump it (needs libbfd), else the image's size as "NB"
  local x j=""
  x=$(bpftool prog dump xlated pinned "$PIN/$1" | grep -cE '^ *[0-9]+: ')
  if bpftool prog dump jited pinned "$PIN/$1" file "$OUT/$1.jit" >/dev/null 2>&1 && command -v objdump >/dev/null; then
    j=$(objdump -D -b binary -m i386:x86-64 "$OUT/$1.jit" | grep -cE '^ +[0-9a-f]+:	')
  else
    j=$(bpftool -j prog show pinned "$PIN/$1" | sed -n 's/.*"bytes_jited":\([0-9]*\).*/\1B/p')
  fi
  echo "$x ${j:--}"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
loc() {  # non-blank lines once comments are removed, without #include lines
  gcc -fpreprocessed -dD -E -P "$1" 2>/dev/null | grep -v '^#include' | grep -cv '^[[:space:]]*$'
}

step "compiling the floor and ${#POLICIES[@]} policies into the XDP shim (NUM_EXECUTORS=$NEXEC)"
clang "${cflags[@]}" -DFLOOR -c "$ROOT/bench/table2/xdp_shim.c" -o "$OUT/floor.o"
load floor "$OUT/floor.o"
for p in "${POLICIES[@]}"; do
  clang "${cflags[@]}" -DPOLICY_FILE="\"${SRC[$p]}\"" -c "$ROOT/bench/table2/xdp_shim.c" -o "$OUT/$p.o"
  load "$p" "$OUT/$p.o"
done
# token: give user 1 plenty of tokens, so the measured path is "take a token, pass".
if [[ -e $PIN/token_maps/tokens ]]; then
  bpftool map update pinned "$PIN/token_maps/tokens" key 1 0 0 0 value 0 0 0 0 0 0 0 64 >/dev/null
fi

step "timing: $REPS x (floor, policy) per policy, $REPEAT runs each"
echo "policy,rep,floor_ns,policy_ns,retval" >"$OUT/raw.csv"
for p in "${POLICIES[@]}"; do
  for r in $(seq "$REPS"); do
    read -r f _ < <(run_ns floor)
    read -r n rv < <(run_ns "$p")
    echo "$p,$r,$f,$n,$rv" >>"$OUT/raw.csv"
  done
done

mhz=$(awk -F': ' '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)
{
  echo "# table2: Syrup policy overheads (paper Table 2)"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ): cores=$(nproc) kernel=$(uname -r) cpu=\"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)\" ${mhz:+(${mhz} MHz)} loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "Each policy's schedule() runs in an XDP shim (bench/table2/xdp_shim.c) on a 50-byte UDP GET packet,"
  echo "timed by BPF_PROG_TEST_RUN ($REPEAT repeats; median of $REPS, alternating with the floor, a bare"
  echo "\`return XDP_PASS\`). The test run's own per-packet cost is in the floor; \"decision\" = shim - floor."
  echo "Cycles = ns x the CPU's nominal MHz. Instructions are the whole shim (packet parsing included); the"
  echo "floor is $(insns floor | cut -d' ' -f1) BPF instructions. LoC: non-blank, non-comment lines of the policy file."
  echo "scan_avoid's Map is all zero here (the first probe finds an idle executor); token's user has tokens."
  echo
  echo "| policy | LoC | BPF insns | x86 insns (or JIT bytes) | shim ns (median) | floor ns | decision ns | decision cycles | shim / floor |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >"$OUT/summary.md"
echo "policy,loc,bpf_insns,x86_insns_or_jit_bytes,shim_ns,floor_ns,decision_ns,ratio" >"$OUT/table2.csv"
for p in "${POLICIES[@]}"; do
  f=$(awk -F, -v p="$p" '$1 == p { print $3 }' "$OUT/raw.csv" | median)
  n=$(awk -F, -v p="$p" '$1 == p { print $4 }' "$OUT/raw.csv" | median)
  read -r xl jt < <(insns "$p")
  l=$(loc "${SRC[$p]}")
  d=$(awk -v n="$n" -v f="$f" 'BEGIN { printf "%.1f", n - f }')
  cyc=$(awk -v d="$d" -v m="${mhz:-0}" 'BEGIN { if (m > 0) printf "%.0f", d * m / 1000; else print "-" }')
  ratio=$(awk -v n="$n" -v f="$f" 'BEGIN { printf "%.2f", (f > 0) ? n / f : 0 }')
  echo "$p,$l,$xl,$jt,$n,$f,$d,$ratio" >>"$OUT/table2.csv"
  echo "| $p | $l | $xl | $jt | $n | $f | $d | $cyc | ${ratio}x |" >>"$OUT/summary.md"
done
{
  echo
  echo "Noise: the floor's spread over all reps was $(awk -F, 'NR > 1 { v = $3; if (min == "" || v < min) min = v; if (v > max) max = v } END { print min "-" max }' "$OUT/raw.csv") ns."
  echo "Paper (Xeon E5-2630, at sk_reuseport including the redirect): 1563-1709 cycles per decision; here the"
  echo "shim does not redirect, so this is the cost of making the decision, not of enforcing it."
} >>"$OUT/summary.md"
cat "$OUT/summary.md"
step "results in ${OUT#"$ROOT/"}"
