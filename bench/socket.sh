#!/usr/bin/env bash
# socket_select benchmark: datagrams/s through one SO_REUSEPORT group of two UDP sockets on
# loopback, same sender, alternating in one run: the kernel's default, a bare C sk_reuseport
# round-robin program, and Syrup's round_robin at socket_select behind the dispatcher; many flows
# and one flow (dev.syrup.daemon.bench.SocketBench, daemon-bundle test sources).
# Goal: Syrup >= 0.98x the bare C program, balance 50% +- 1%.
# Output: results/socket-<UTC timestamp>/{summary.md,socket.csv,machine.txt}.
# Knobs (env): SECS=3 (per sample) ROUNDS=3 FLOWS=50
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
MODULE=daemon-bundle
SECS=${SECS:-3} ROUNDS=${ROUNDS:-3} FLOWS=${FLOWS:-50}
REPEAT=- 
OUT="$ROOT/results/socket-$(date -u +%Y%m%dT%H%M%SZ)"
step() { printf 'bench socket: %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || { step "needs root (bpf() program loads)"; exit 1; }
mkdir -p "$OUT"
cd "$ROOT"
# shellcheck source=shim.sh
. "$ROOT/bench/shim.sh"

step "[1/2] building $MODULE test classes and their classpath"
shim_build "$MODULE" dev/syrup/daemon/bench/SocketBench api-bundle native client bpf-bundle backend-ebpf-bundle isolation-bundle
shim_machine

step "[2/2] $ROUNDS rounds x 3 selections x ($FLOWS flows, 1 flow) x $SECS s"
java -cp "$CP" dev.syrup.daemon.bench.SocketBench "$OUT" "$SECS" "$ROUNDS" "$FLOWS"
step "results in ${OUT#"$ROOT/"}"
