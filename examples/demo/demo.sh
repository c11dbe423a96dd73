#!/usr/bin/env bash
# Syrup demo (`./syrup demo`, about 45 s with the daemon's start): one GET/SCAN load, three
# socket-selection policies on the same SO_REUSEPORT group - the kernel's default hash,
# round_robin, and sita (SCANs to socket 0) - and each policy's GET p99 against the default's.
# The load is set from what the server sustains on one socket right now (measured first), so that
# under the default, whose hash puts the client's one flow on one socket, that socket's queue is
# the bottleneck. A SCAN waits (as for storage) rather than spins, so that the sockets, not the
# cores, are what requests queue for even on a machine with fewer cores than sockets.
# Run from the repository root. Tunables: PORT, LOAD, RATE, SECS, SCAN_RATIO, NICE, NSOCK.
set -euo pipefail
cd "$(dirname "$0")/../.."
began=$SECONDS

PORT=${PORT:-9000}
LOAD=${LOAD:-0.6}    # the load as a fraction of the measured one-socket capacity
RATE=${RATE:-}       # req/s; set to skip the measurement
SECS=${SECS:-4}
SCAN_RATIO=${SCAN_RATIO:-0.01}
NICE=${NICE:--10}    # server and client above the rest of a shared machine (as root)
NSOCK=${NSOCK:-4}

tmp=$(mktemp -d)
srv=""        # DemoServer pid
id=""         # current deployment id
ours=""       # set when this script started the daemon

cleanup() {
    local rc=$?
    set +e
    [[ -n $id ]] && ./syrup shell "syrup:undeploy $id" >/dev/null 2>&1
    if [[ -n $srv ]]; then kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; fi
    [[ -n $ours ]] && ./syrup stop >/dev/null 2>&1
    if ((rc != 0)); then
        echo "demo failed (exit $rc); server log:" >&2
        cat "$tmp/server.log" >&2 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

die() { echo "demo: $*" >&2; exit 1; }

# Leave the daemon as we found it: stop it at the end only if we start it here.
if ./syrup shell 'shell:echo ok' >/dev/null 2>&1; then
    echo "== Syrup daemon already running"
else
    echo "== starting the Syrup daemon"
    ours=1   # set first: a start that fails may leave a Karaf booting, which cleanup stops
    ./syrup start || die "./syrup start failed"
fi

# Compile once: the source launcher would recompile on every run.
javac -d "$tmp/classes" examples/demo/DemoServer.java examples/demo/DemoClient.java

echo "== starting DemoServer on 127.0.0.1:$PORT with $NSOCK sockets"
nice -n "$NICE" java -cp "$tmp/classes" DemoServer --port "$PORT" --sockets "$NSOCK" --scan-waits >"$tmp/server.log" 2>&1 &
srv=$!
for _ in $(seq 100); do
    grep -q '^ready' "$tmp/server.log" && break
    kill -0 "$srv" 2>/dev/null || die "DemoServer exited"
    sleep 0.1
done
grep '^ready' "$tmp/server.log" || die "DemoServer not ready after 10 s"

if [[ -z $RATE ]]; then
    echo
    echo "== measuring what one server socket sustains now (2 s, 64 requests outstanding, $SCAN_RATIO SCAN)"
    cap=$(nice -n "$NICE" java -cp "$tmp/classes" DemoClient --port "$PORT" --calibrate 2 --window 64 --scan-ratio "$SCAN_RATIO" |
        awk '/^capacity/ { print $2 }')
    [[ $cap =~ ^[0-9]+$ && $cap -gt 0 ]] || die "no capacity measured"
    RATE=$(awk -v c="$cap" -v l="$LOAD" 'BEGIN { r = int(c * l); print r < 100 ? 100 : r }')
    echo "capacity $cap req/s; load $RATE req/s ($LOAD of it): busy for the default's one socket, not for $NSOCK"
fi

# One client run; the table goes to the terminal, the csv line to $tmp/results.
run() {
    echo
    echo "== load under $1"
    nice -n "$NICE" java -cp "$tmp/classes" DemoClient --port "$PORT" --rate "$RATE" --seconds "$SECS" \
        --scan-ratio "$SCAN_RATIO" --sockets "$NSOCK" --label "$1" --csv | tee "$tmp/run.out" | grep -v '^csv,'
    grep '^csv,' "$tmp/run.out" >>"$tmp/results"
}

# Deploy a policy; the last word of the command's last line is the deployment id.
deploy() {
    echo
    echo "== syrup:deploy $*"
    local out
    out=$(./syrup shell "syrup:deploy $*") || { echo "$out" >&2; die "syrup:deploy $* failed"; }
    echo "$out"
    id=$(printf '%s\n' "$out" | tr -d '\r' | awk 'NF { w = $NF } END { print w }')
    [[ -n $id ]] || die "no deployment id in the output of syrup:deploy"
}

run default
deploy round_robin --hook socket_select --port "$PORT"
run round_robin
deploy sita --hook socket_select --port "$PORT" --replace
run sita

echo
echo "== syrup:undeploy $id"
./syrup shell "syrup:undeploy $id" || die "syrup:undeploy $id failed"
id=""
kill "$srv"
wait "$srv" || true   # exits on SIGTERM; its shutdown hook prints the per-socket served counts
srv=""
grep '^served' "$tmp/server.log" | sed 's/^/server /'

echo
echo "== summary: $RATE req/s for $SECS s, SCAN ratio $SCAN_RATIO, one client source port; latencies in us"
printf '%-12s | %-26s | %-13s | %-13s | %-5s | %s\n' policy "per-socket counts" "GET p50/p99" "SCAN p50/p99" lost \
    "GET p99 / default's"
printf '%s\n' "-------------+----------------------------+---------------+---------------+-------+--------------------"
base=""
while IFS=, read -r _ label _ socks gp50 gp99 sp50 sp99 lost; do
    [[ -z $base ]] && base=$gp99
    ratio=$(awk -v p="$gp99" -v b="$base" 'BEGIN { if (p ~ /^[0-9]+$/ && b > 0) printf "%.2f", p / b; else print "-" }')
    printf '%-12s | %-26s | %-13s | %-13s | %-5s | %s\n' "$label" "$socks" "$gp50/$gp99" "$sp50/$sp99" "$lost" "$ratio"
done <"$tmp/results"
echo
echo "Under the default the client's one flow hashes to one socket: every request queues there,"
echo "GETs behind SCANs. round_robin spreads the queue over $NSOCK sockets (a GET still waits behind"
echo "a SCAN on its own socket); sita keeps SCANs on socket 0, so no GET waits behind one."
echo "Demo time: $((SECONDS - began)) s."
