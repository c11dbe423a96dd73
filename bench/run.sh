#!/usr/bin/env bash
# Benchmarks: bench/run.sh NAME (or ./syrup bench NAME). `all` runs every benchmark.
# Each benchmark is bench/NAME.sh; results go to results/NAME-<UTC timestamp>/.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
KNOWN=(maps fig2 fig6 table2 stats xdp dispatch client)

usage() { printf 'usage: %s {%s|all}\n' "${0##*/}" "$(IFS='|'; echo "${KNOWN[*]}")" >&2; }

name=${1:-}
[[ $# -gt 0 ]] && shift
case $name in
  all)
    for b in "${KNOWN[@]}"; do echo "bench: == $b =="; bash "$BENCH/$b.sh" "$@"; done ;;
  *)
    if [[ -n $name && " ${KNOWN[*]} " == *" $name "* ]]; then
      exec bash "$BENCH/$name.sh" "$@"
    fi
    [[ -n $name ]] && echo "bench: unknown benchmark '$name'; known: ${KNOWN[*]}" >&2
    usage; exit 2 ;;
esac
