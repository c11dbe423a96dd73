#!/usr/bin/env bash
# Benchmarks: bench/run.sh NAME (or ./syrup bench NAME). `all` runs every benchmark that can run
# here. Each benchmark is bench/NAME.sh; results go to results/NAME-<UTC timestamp>/.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
KNOWN=(maps fig2 fig6 fig7 fig8 table2 stats xdp dispatch client deploy socket)
# Other names for the same benchmark: the paper's Table 3 is part of `maps`.
declare -A ALIAS=([table3]=maps)
# Paper experiments that need a hook this build does not have, and why.
declare -A MISSING=()

usage() { printf 'usage: %s {%s|all}\n' "${0##*/}" "$(IFS='|'; echo "${KNOWN[*]} ${!ALIAS[*]}" | tr ' ' '|')" >&2; }

name=${1:-}
[[ $# -gt 0 ]] && shift
[[ -n $name && -n ${ALIAS[$name]:-} ]] && name=${ALIAS[$name]}
case $name in
  all)
    for b in "${KNOWN[@]}"; do echo "bench: == $b =="; bash "$BENCH/$b.sh" "$@"; done
    for b in "${!MISSING[@]}"; do echo "bench: == $b == not run: ${MISSING[$b]}"; done ;;
  *)
    if [[ -n $name && " ${KNOWN[*]} " == *" $name "* ]]; then
      exec bash "$BENCH/$name.sh" "$@"
    fi
    if [[ -n $name && -n ${MISSING[$name]:-} ]]; then
      echo "bench: $name cannot run: ${MISSING[$name]}" >&2; exit 1
    fi
    [[ -n $name ]] && echo "bench: unknown benchmark '$name'; known: ${KNOWN[*]} ${!ALIAS[*]}" >&2
    usage; exit 2 ;;
esac
