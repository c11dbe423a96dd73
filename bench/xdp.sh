#!/usr/bin/env bash
# bench xdp: receive rate of the Java AF_XDP echo server (examples/xdp-echo, xdp_skb or xdp_drv
# through syrupd) against a plain Java UDP echo server (DatagramChannel), on the same veth pair,
# under the same load (bench/xdp/UdpBlast.java in a network namespace). One run each; writes
# results/xdp-<UTC>/{xdp.csv,summary.md,*.log}.
# Knobs (env): PORT=9200 SECONDS_=10 THREADS=2 MODE=skb|drv (XDP mode of the AF_XDP server).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PORT=${PORT:-9200} SECS=${SECONDS_:-10} THREADS=${THREADS:-2} MODE=${MODE:-skb}
step() { printf 'bench xdp: %s\n' "$*" >&2; }
[[ $EUID -eq 0 ]] || { step "needs root (AF_XDP, syrupd's eBPF)"; exit 1; }

OUT="$ROOT/results/xdp-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
r=$(printf '%05x' $((RANDOM * 32 + RANDOM % 32)))
NS="syrbn$r" DEV="syrbx$r" PEER="syrby$r" NET=$((RANDOM % 250 + 2))
LOCAL="10.213.$NET.1" REMOTE="10.213.$NET.2"
srv="" ours=""
cleanup() {
  local rc=$?
  set +e
  [[ -n $srv ]] && { kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; }
  ip link del "$DEV" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  [[ -n $ours ]] && "$ROOT/syrup" stop >/dev/null 2>&1
  ((rc == 0)) || step "failed (exit $rc); logs in $OUT"
}
trap cleanup EXIT

step "classpath of the client jar"
jar=$(ls "$ROOT"/client/target/syrup-client-*.jar 2>/dev/null | grep -v sources | head -n 1 || true)
[[ -n $jar ]] || mvn -B -ntp -q -o install -DskipTests -pl client -am -f "$ROOT/pom.xml" >"$OUT/build.log" 2>&1
jar=$(ls "$ROOT"/client/target/syrup-client-*.jar | grep -v sources | head -n 1)
mvn -B -ntp -q -o -f "$ROOT/pom.xml" -pl client dependency:build-classpath \
  -Dmdep.outputFile="$OUT/cp.txt" -Dmdep.includeScope=runtime >>"$OUT/build.log" 2>&1
CP="$jar:$(cat "$OUT/cp.txt")"

if "$ROOT/syrup" shell 'shell:echo ok' >/dev/null 2>&1; then
  step "Syrup daemon already running"
else
  step "starting the Syrup daemon (./syrup start)"
  "$ROOT/syrup" start >>"$OUT/build.log" 2>&1 || { tail -n 20 "$OUT/build.log" >&2; exit 1; }
  ours=1
fi

step "veth $DEV (one queue) <-> $PEER in namespace $NS"
ip netns add "$NS"
ip link add "$DEV" numtxqueues 1 numrxqueues 1 type veth peer name "$PEER" numtxqueues 1 numrxqueues 1
ip link set "$PEER" netns "$NS"
ip addr add "$LOCAL/24" dev "$DEV"
ip link set "$DEV" up
MAC=$(cat "/sys/class/net/$DEV/address")
nsenter --net="/run/netns/$NS" bash -c "ip addr add $REMOTE/24 dev $PEER && ip link set $PEER up && ip link set lo up \
  && ip neigh replace $LOCAL lladdr $MAC dev $PEER && ethtool -K $PEER tx off >/dev/null"
{
  echo "cores=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "java=$(java -version 2>&1 | head -n 1)"
  echo "loadavg_at_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

# run_one NAME READY_PATTERN COUNT_PATTERN -- server command...: prints received/s
run_one() {
  local name=$1 ready=$2 count=$3; shift 4
  local log="$OUT/server-$name.log"
  "$@" >"$log" 2>&1 &
  srv=$!
  for _ in $(seq 150); do
    grep -q "$ready" "$log" && break
    kill -0 "$srv" 2>/dev/null || { cat "$log" >&2; srv=""; exit 1; }
    sleep 0.2
  done
  grep -q "$ready" "$log" || { step "$name server not ready after 30 s"; cat "$log" >&2; exit 1; }
  nsenter --net="/run/netns/$NS" java "$ROOT/bench/xdp/UdpBlast.java" "$LOCAL" "$PORT" "$SECS" "$THREADS" >"$OUT/load-$name.log" 2>&1
  wait "$srv" || true
  srv=""
  local n sent
  n=$(grep -o "$count [0-9]*" "$log" | tail -n 1 | awk '{ print $NF }')
  sent=$(awk '/^sent/ { print $2 }' "$OUT/load-$name.log")
  step "$name: received $n of $sent sent in $SECS s"
  echo "$name,$SECS,$sent,$n,$((n / SECS))" >>"$OUT/xdp.csv"
}

echo "server,seconds,sent,received,received_per_s" >"$OUT/xdp.csv"
step "plain Java UDP echo server"
run_one plain '^ready' 'received' -- java "$ROOT/bench/xdp/UdpEchoServer.java" "$PORT" $((SECS + 3))
step "Java AF_XDP echo server (xdp_$MODE)"
run_one af_xdp '^echoing' 'echoed' -- java -cp "$CP" "$ROOT/examples/xdp-echo/XdpEchoServer.java" \
  --iface "$DEV" --port "$PORT" --mode "$MODE" --seconds $((SECS + 3))

plain=$(awk -F, '$1 == "plain" { print $5 }' "$OUT/xdp.csv")
xdp=$(awk -F, '$1 == "af_xdp" { print $5 }' "$OUT/xdp.csv")
ratio=$(awk -v a="$xdp" -v b="$plain" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
{
  echo "# AF_XDP echo vs plain UDP echo (Java), one run"
  echo
  echo "veth pair, one queue, load: $THREADS sender threads in a network namespace for $SECS s, 64-byte datagrams."
  echo "AF_XDP server: examples/xdp-echo (xdp_$MODE, copy mode on veth); plain: one DatagramChannel."
  echo
  echo "| server | received/s |"
  echo "|---|---|"
  echo "| plain UDP (DatagramChannel) | $plain |"
  echo "| AF_XDP (XdpSocket, xdp_$MODE) | $xdp |"
  echo
  echo "ratio AF_XDP / plain: **$ratio** ($(cat "$OUT/machine.txt" | tr '\n' ' '))"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
