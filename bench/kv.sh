# Shared by bench/fig2.sh, fig6.sh, fig7.sh (sourced): builds bench/kv if needed, runs the RocksDB UDP server
# (KvServer) and the open-loop load generator (LoadGen) under socket_select policies deployed
# through ./syrup, and writes results/NAME-<UTC>/{raw.csv,NAME-agg.csv,NAME.png,summary.md}.
# Knobs (env): PORT=9100 THREADS=4 SOURCES=50 NICE=-10 GET_REPS=3 RUNS DURATION RATES SLO_US TIMEOUT_MS,
# SYRUP_RESULTS (where results go; default results/), --quick.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
KV="$ROOT/bench/kv"
PORT=${PORT:-9100} THREADS=${THREADS:-4} SOURCES=${SOURCES:-50} TIMEOUT_MS=${TIMEOUT_MS:-200}
# SLO_US defaults to 5 ms in every figure: on a 2-core machine with the generator on the server's
# cores, p99 with SCANs is ~1 ms at any load, policy or not (a 1 ms SCAN holds one of the two
# cores; docs/bench.md), and 1-3 ms near saturation without them; an SLO above that floor makes
# "sustained" mark where queueing starts instead of where the noise happens to peak.
# Server and generator run at a higher priority (NICE=-10) than the rest of a shared machine.
NICE=${NICE:--10}
# A GET is GET_REPS point lookups (3: ~10 us here, the paper's 10-12 us); a SCAN ~75 GETs.
GET_REPS=${GET_REPS:-3}
QUICK=""
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    *) echo "bench: unknown option $a (known: --quick)" >&2; exit 2 ;;
  esac
done
kv_step() { printf 'bench %s: %s\n' "$NAME" "$*" >&2; }
kv_count() { cat "$2" 2>/dev/null | grep -c "$1" || true; }  # kv_count REGEX FILE: matching lines (0 if none)

kv_srv="" kv_id="" kv_ours="" kv_tmp="" kv_scan_len=""
kv_cleanup() {
  local rc=$?
  set +e
  declare -F kv_on_exit >/dev/null && kv_on_exit  # a script's own cleanup, before the undeploy
  [[ -n $kv_id ]] && "$ROOT/syrup" shell "syrup:undeploy $kv_id" >/dev/null 2>&1
  if [[ -n $kv_srv ]]; then kill "$kv_srv" 2>/dev/null; wait "$kv_srv" 2>/dev/null; fi
  [[ -n $kv_ours ]] && "$ROOT/syrup" stop >/dev/null 2>&1
  [[ -n $kv_tmp ]] && rm -rf "$kv_tmp"
  ((rc == 0)) || kv_step "failed (exit $rc); logs in ${OUT:-?}"
}

kv_init() {  # kv_init NAME: output directory, build, daemon
  OUT="${SYRUP_RESULTS:-$ROOT/results}/$NAME-$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$OUT"
  kv_tmp=$(mktemp -d)
  trap kv_cleanup EXIT
  [[ $EUID -eq 0 ]] || { kv_step "needs root (syrupd's eBPF, bpffs)"; exit 1; }
  # The root build (./syrup build) builds bench/kv too; rebuilt here only when its sources changed
  # since (Maven alone takes many seconds on a busy machine).
  local stamp="$KV/target/classes/dev/syrup/bench/kv/LoadGen.class"
  if [[ ! -f $stamp || ! -d $KV/target/lib || -n $(find "$KV/pom.xml" "$KV/src/main" -newer "$stamp" -print -quit) ]]; then
    kv_step "building bench/kv (RocksDB server, load generator, plots)"
    mvn -B -ntp -q -o package -DskipTests -f "$KV/pom.xml" >"$OUT/build.log" 2>&1 ||
      mvn -B -ntp -q package -DskipTests -f "$KV/pom.xml" >>"$OUT/build.log" 2>&1 ||
      { tail -n 30 "$OUT/build.log" >&2; kv_step "bench/kv did not build (does ./syrup build pass?)"; exit 1; }
    touch "$stamp"
  fi
  # Snapshot the classes: a concurrent rebuild of bench/kv must not change them under us.
  cp -r "$KV/target/classes" "$kv_tmp/classes"
  CP="$kv_tmp/classes:$KV/target/lib/*"
  # One database for every server, loaded once. Then one server that only calibrates the SCAN
  # length every server of the experiment uses: the first server to open the database served
  # GETs up to twice as fast as the later ones (10 vs 16-19 us, cause unknown), so that no policy
  # gets that server.
  java -cp "$CP" dev.syrup.bench.kv.KvServer --port "$PORT" --db "$kv_tmp/db" --load-only >"$OUT/load.log" 2>&1 ||
    { cat "$OUT/load.log" >&2; kv_step "could not load the database"; exit 1; }
  nice -n "$NICE" java -cp "$CP" dev.syrup.bench.kv.KvServer --port "$PORT" --db "$kv_tmp/db" --get-reps "$GET_REPS" --calibrate-only \
    >>"$OUT/load.log" 2>&1 || { cat "$OUT/load.log" >&2; kv_step "could not calibrate the server"; exit 1; }
  kv_scan_len=$(sed -n 's/^calibration.*(\([0-9]*\) keys).*/\1/p' "$OUT/load.log" | head -n 1)
  [[ -n $kv_scan_len ]] || { cat "$OUT/load.log" >&2; kv_step "no calibration in $OUT/load.log"; exit 1; }
  kv_step "SCAN = $kv_scan_len keys ($(grep '^calibration' "$OUT/load.log"))"
  if "$ROOT/syrup" shell 'shell:echo ok' >/dev/null 2>&1; then
    kv_step "Syrup daemon already running"
  else
    kv_step "starting the Syrup daemon (./syrup start)"
    "$ROOT/syrup" start >>"$OUT/build.log" 2>&1 || { tail -n 20 "$OUT/build.log" >&2; exit 1; }
    kv_ours=1
  fi
  {
    echo "cores=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "java=$(java -version 2>&1 | head -n 1)"
    echo "loadavg_at_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  } >"$OUT/machine.txt"
  KV_CSV="$OUT/raw.csv"
  echo "policy,offered_rps,run,sent,replies,drops,throughput_rps,p50_us,p99_us,p999_us,max_us,send_lag_p99_us" >"$KV_CSV"
}

kv_server_start() {  # kv_server_start [KvServer args]: a fresh server (and fresh sockets) per policy
  local log="$OUT/server-$1.log"; shift
  local before; before=$(kv_count '^ready' "$log")
  # Every server uses the SCAN length kv_init calibrated (same work per SCAN).
  set -- "$@" --scan-len "$kv_scan_len"
  nice -n "$NICE" java -Xms256m -cp "$CP" dev.syrup.bench.kv.KvServer --port "$PORT" --threads "$THREADS" --db "$kv_tmp/db" --get-reps "$GET_REPS" "$@" >>"$log" 2>&1 &
  kv_srv=$!
  for _ in $(seq 300); do
    (( $(kv_count '^ready' "$log") > before )) && break
    kill -0 "$kv_srv" 2>/dev/null || { cat "$log" >&2; kv_srv=""; exit 1; }
    sleep 0.2
  done
  (( $(kv_count '^ready' "$log") > before )) || { kv_step "KvServer not ready after 60 s"; exit 1; }
  kv_step "  server: $(grep '^calibration' "$log" | tail -n 1)"
}

kv_server_stop() {
  [[ -n $kv_srv ]] || return 0
  kill "$kv_srv" 2>/dev/null; wait "$kv_srv" 2>/dev/null || true
  kv_srv=""
}

kv_deploy() {  # kv_deploy POLICY [OPTIONS]: deploys POLICY (built-in name or .c path) at socket_select
  local out
  out=$("$ROOT/syrup" shell "syrup:deploy $* --hook socket_select --port $PORT" 2>&1) ||
    { echo "$out" >&2; kv_step "syrup:deploy $1 failed"; exit 1; }
  kv_id=$(printf '%s\n' "$out" | tr -d '\r' | awk 'NF { w = $NF } END { print w }')
  [[ -n $kv_id && $out != *rror* ]] || { echo "$out" >&2; kv_step "syrup:deploy $1: no deployment id"; exit 1; }
}

kv_undeploy() {
  [[ -n $kv_id ]] || return 0
  "$ROOT/syrup" shell "syrup:undeploy $kv_id" >/dev/null 2>&1 || kv_step "syrup:undeploy $kv_id failed"
  kv_id=""
}

# kv_policy LABEL SCAN_RATIO RUN: one sweep over RATES (run number RUN) under policy LABEL
# (default = no policy), with a fresh server. The scripts loop runs outside policies, so that a
# shared machine's drifting load hits every policy alike. Rows go to $KV_CSV (raw.csv); a
# script may set KV_LOADGEN (more LoadGen arguments) and define kv_server_args_LABEL (more
# KvServer arguments), kv_deploy_LABEL (how to deploy LABEL, run after the server is up) and
# kv_undeploy_LABEL (run before the undeploy).
kv_policy() {
  local label=$1 ratio=$2 run=$3
  local -a extra=()
  [[ $label == scan_avoid ]] && extra=(--scan-map-file "$kv_tmp/scan-map")
  # shellcheck disable=SC2207 # a script's kv_server_args_LABEL prints more KvServer arguments
  declare -F "kv_server_args_$label" >/dev/null && extra+=($("kv_server_args_$label"))
  rm -f "$kv_tmp/scan-map" "$kv_tmp/threads-id"
  kv_server_start "$label" "${extra[@]}"
  case $label in
    default) ;;
    scan_avoid)
      kv_deploy scan_avoid
      local map
      for _ in $(seq 50); do
        map=$(find /sys/fs/bpf/syrup -path "*/$kv_id/scan" 2>/dev/null | head -n 1)
        [[ -n $map ]] && break; sleep 0.1
      done
      [[ -n $map ]] || { kv_step "scan_avoid: no pinned Map 'scan' for deployment $kv_id"; exit 1; }
      echo "$map" >"$kv_tmp/scan-map"
      for _ in $(seq 50); do (( $(kv_count '^scan-map' "$OUT/server-$label.log") >= run )) && break; sleep 0.1; done
      (( $(kv_count '^scan-map' "$OUT/server-$label.log") >= run )) || { kv_step "KvServer did not open $map"; exit 1; } ;;
    *) if declare -F "kv_deploy_$label" >/dev/null; then "kv_deploy_$label"; else kv_deploy "$label"; fi ;;
  esac
  # shellcheck disable=SC2086 # KV_LOADGEN is a list of arguments
  nice -n "$NICE" java -cp "$CP" dev.syrup.bench.kv.LoadGen --port "$PORT" --rates "$RATES" --runs 1 --first-run "$run" --seconds "$DURATION" \
    --warmup "$WARMUP" --scan-ratio "$ratio" --sources "$SOURCES" --timeout-ms "$TIMEOUT_MS" \
    --label "$label" --csv "$KV_CSV" ${KV_LOADGEN:-}
  if declare -F "kv_undeploy_$label" >/dev/null; then "kv_undeploy_$label"; fi
  kv_undeploy
  kv_server_stop
  grep '^served' "$OUT/server-$label.log" | tail -n 1 | sed "s/^/bench $NAME:   $label run $run /" >&2 || true
}

# kv_runs WHAT SCAN_RATIO POLICY...: RUNS runs of every policy (kv_policy). Run r starts with the
# r-th policy, so that whatever favours the first server of a run (seen here: GETs twice as fast
# on the first server after a pause) favours no one policy.
kv_runs() {
  local what=$1 ratio=$2 r i p
  shift 2
  local -a ps=("$@")
  for r in $(seq "$RUNS"); do
    for i in "${!ps[@]}"; do
      p=${ps[$(((r - 1 + i) % ${#ps[@]}))]}
      kv_step "[run $r/$RUNS, $p] $what"
      kv_policy "$p" "$ratio" "$r"
    done
  done
}

# kv_report TITLE BASELINE: plot + summary.md by Report (or KV_REPORT, with KV_REPORT_ARGS);
# KV_SWEEP describes a sweep other than the offered loads.
kv_report() {
  {
    echo "# $NAME: $1"
    echo
    echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ)${QUICK:+ (--quick)}: KvServer (RocksDB $(basename "$KV"/target/lib/rocksdbjni-*.jar .jar | sed 's/rocksdbjni-//'),"
    echo "$THREADS worker threads on SO_REUSEPORT port $PORT) and LoadGen (open loop, Poisson, $SOURCES source ports) on the same machine;"
    echo "(both at nice $NICE); offered loads $RATES rps${KV_SWEEP:+, $KV_SWEEP}, $RUNS run(s) per point, $DURATION s each after ${WARMUP} s warm-up (and 2 s unrecorded at the first point of each sweep); a reply later than $TIMEOUT_MS ms is a drop."
    echo
    echo "Machine:"
    echo
    sed 's/^/    /' "$OUT/machine.txt"
    echo "    loadavg_at_end=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "Server calibration (GET = $GET_REPS point lookups, SCAN = one range scan; ratio = SCAN/GET cost):"
    echo
    grep '^calibration' "$OUT/load.log" | sed 's/^/    (sets the SCAN length) /'
    for f in "$OUT"/server-*.log; do grep '^calibration' "$f" | sed "s/^/    $(basename "$f" .log | sed 's/^server-//'): /"; done
    echo
    # shellcheck disable=SC2086 # KV_REPORT_ARGS is a list of arguments
    java -Djava.awt.headless=true -cp "$CP" "dev.syrup.bench.kv.${KV_REPORT:-Report}" --csv "$KV_CSV" --out "$OUT" --name "$NAME" \
      --title "$1" --slo-us "$SLO_US" --baseline "$2" --timeout-us $((TIMEOUT_MS * 1000)) ${KV_REPORT_ARGS:-}
    echo
    echo "Files: raw.csv (one row per run), $NAME-agg.csv (per point), $NAME.png (the plot; error bars = sd across runs), server-*.log, machine.txt."
  } >"$OUT/summary.md"
  sed -i '/^SUSTAINED/d' "$OUT/summary.md"
  cat "$OUT/summary.md"
  kv_step "results in ${OUT#"$ROOT/"}"
}
