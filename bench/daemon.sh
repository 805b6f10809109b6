#!/bin/bash
# fetchd daemon benchmark: the real Service in-process (bench/daemon_bench.cpp) against the loopback
# nginx on 127.0.0.1:18080, with the one-shot engine figure of the same run beside it.
#   bench/daemon.sh                      # what bench/run.sh calls (DAEMON=1, the default)
#   DURATION=20 bench/daemon.sh          # shorter rate window (default 60 s)
#   DAEMON_BENCHES="scale history" bench/daemon.sh
#   DAEMON_BENCHES=control bench/daemon.sh   # only the control latency (bench/control_bench.cpp)
#   CONTROL=0 bench/daemon.sh            # without the control latency bench
# Knobs: DURATION RATE_TARGETS RATE_INTERVAL_MS MAX_IN_FLIGHT SCALE_TARGETS SCALE_INTERVAL_MS
#        HISTORY DAEMON_BENCHES ("rate paced scale history", plus "control" when CONTROL=1) BUILD
#        ONESHOT_JSON OUTDIR; control: CONTROL (1) CONTROL_REQUESTS (5000 per command and phase)
#        CONTROL_CONNECTIONS (1) CONTROL_PHASES ("load idle empty")
# control runs the real fetchd binary as its own process with RATE_TARGETS at RATE_INTERVAL_MS and
# MAX_IN_FLIGHT, and times `status` and `show` round trips on its control socket (issue 4).
# ONESHOT_JSON: fetch_bench's JSON lines from the same run (bench/run.sh passes them); without it,
# this script runs fetch_bench -n 20000 -c 100 itself. Everything goes to 127.0.0.1; every command
# runs under `timeout`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD=${BUILD:-$ROOT/build/release}
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
DURATION=${DURATION:-60}
RATE_TARGETS=${RATE_TARGETS:-10000}
RATE_INTERVAL_MS=${RATE_INTERVAL_MS:-2000}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-2000}
SCALE_TARGETS=${SCALE_TARGETS:-100000}
SCALE_INTERVAL_MS=${SCALE_INTERVAL_MS:-60000}
HISTORY=${HISTORY:-100}
DAEMON_BENCHES=${DAEMON_BENCHES:-"rate paced scale history"}
CONTROL=${CONTROL:-1}
CONTROL_REQUESTS=${CONTROL_REQUESTS:-5000}
CONTROL_CONNECTIONS=${CONTROL_CONNECTIONS:-1}
CONTROL_PHASES=${CONTROL_PHASES:-"load idle empty"}
if [ "$CONTROL" != 1 ]; then
  DAEMON_BENCHES=$(echo " $DAEMON_BENCHES " | sed 's/ control / /g')
elif [[ " $DAEMON_BENCHES " != *" control "* ]]; then
  DAEMON_BENCHES="$DAEMON_BENCHES control"
fi
OUTDIR=${OUTDIR:-/tmp/fetchd-bench/daemon-$(date +%Y%m%dT%H%M%S)}
URL=http://127.0.0.1:18080/
BIN=$BUILD/bench/daemon_bench

mkdir -p "$OUTDIR"
RAW=$OUTDIR/raw.jsonl
: > "$RAW"
[ -f "$BUILD/build.ninja" ] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
targets=(daemon_bench fetch_bench)
[[ " $DAEMON_BENCHES " == *" control "* ]] && targets+=(fetchd control_bench)
ninja -C "$BUILD" "${targets[@]}" >/dev/null

# nginx: bench/run.sh has started it; standalone, start the anchors' one and stop it at the end.
STARTED=0
if ! curl -s -o /dev/null --max-time 1 $URL; then
  if [ -x "$ANCHORS/nginx_ctl.sh" ]; then
    "$ANCHORS/nginx_ctl.sh" start
    STARTED=1
  else
    echo "no nginx on $URL: run bench/run.sh (it starts one)" >&2
    exit 1
  fi
fi
stop() { if [ "$STARTED" = 1 ]; then "$ANCHORS/nginx_ctl.sh" stop; fi; }
trap stop EXIT

run() {  # label, bound in seconds, command...
  local label=$1 bound=$2
  shift 2
  echo "\$ $*   # loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  timeout -k 5 "$bound" "$@" | tee -a "$RAW" || echo "($label: errors above)" >&2
}

echo "# fetchd daemon: $(nproc) CPUs $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# The one-shot figure is only the rate goal's yardstick.
if [[ " $DAEMON_BENCHES " == *" rate "* ]] && { [ -z "${ONESHOT_JSON:-}" ] || [ ! -s "$ONESHOT_JSON" ]; }; then
  ONESHOT_JSON=$OUTDIR/oneshot.jsonl
  timeout -k 5 300 "$BUILD/bench/fetch_bench" --url $URL -n 20000 -c 100 | tee "$ONESHOT_JSON" ||
    echo "(one-shot: errors above)" >&2
fi
for bench in $DAEMON_BENCHES; do
  case $bench in
    rate)
      run rate $((RATE_INTERVAL_MS / 1000 + DURATION + 60)) "$BIN" rate --url $URL \
        -n "$RATE_TARGETS" --interval-ms "$RATE_INTERVAL_MS" --duration "$DURATION" \
        --max-in-flight "$MAX_IN_FLIGHT" ;;
    paced)
      run paced $((DURATION + 60)) "$BIN" paced --url $URL -n "$RATE_TARGETS" \
        --interval-ms "$RATE_INTERVAL_MS" --duration "$DURATION" ;;
    scale)
      run scale 600 "$BIN" scale --url $URL -n "$SCALE_TARGETS" --interval-ms "$SCALE_INTERVAL_MS" \
        --history "$HISTORY" ;;
    history)
      run history 600 "$BIN" history --url $URL -n "$SCALE_TARGETS" --history "$HISTORY" ;;
    control)
      # Bounded inside too (start-up 120 s, warm-up interval + 60 s, 300 s per phase's client).
      run control $((RATE_INTERVAL_MS / 1000 + 900)) "$BUILD/bench/control_bench" --url $URL \
        --fetchd "$BUILD/fetchd" -n "$RATE_TARGETS" --interval-ms "$RATE_INTERVAL_MS" \
        --max-in-flight "$MAX_IN_FLIGHT" --requests "$CONTROL_REQUESTS" \
        --connections "$CONTROL_CONNECTIONS" --phases "$CONTROL_PHASES" ;;
    *) echo "unknown daemon bench $bench" >&2 ;;
  esac
  sleep 1
done

# Goals (issue 3), from the JSON lines of this run.
/usr/bin/python3 - "$RAW" "${ONESHOT_JSON:-}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
oneshot = ([json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")]
           if sys.argv[2] and __import__("os").path.exists(sys.argv[2]) else [])
one = next((r for r in oneshot if r.get("c") == 100), None)
by = {}
for r in rows:
    by.setdefault(r.get("bench"), []).append(r)
def verdict(ok): return "met" if ok else "NOT met"
print("\n# daemon goals")
for r in by.get("rate", []):
    cpu = r["cpu_s_per_1000"]
    limit = min(0.10, one["cpu_s_per_1000"]) if one else 0.10
    print(f"rate      {r['fetches_per_s']:.0f}/{r['ideal_fetches_per_s']:.0f} fetches/s "
          f"({100 * r['rate_vs_ideal']:.1f}%), lateness p50 {r['lateness_us']['p50'] / 1000:.2f} ms "
          f"p99 {r['lateness_us']['p99'] / 1000:.2f} ms, errors {r['errors']}")
    ratio = f" ({cpu / one['cpu_s_per_1000']:.1f}x)" if one else ""
    print(f"cpu       {cpu:.3f} CPU-s/1000 vs one-shot c=100 "
          f"{one['cpu_s_per_1000'] if one else float('nan'):.3f}{ratio}: <= 0.10 "
          f"{verdict(cpu <= 0.10)}; <= one-shot {verdict(one is not None and cpu <= one['cpu_s_per_1000'])}")
    print(f"in-flight max {r['max_in_flight_seen']} (limit {r['max_in_flight_setting']}), "
          f"skipped {r['slots_skipped']}, errors by class {r['errors_by_class']}")
for r in by.get("paced", []):
    print(f"paced     engine alone at the same rate: {r['cpu_s_per_1000']:.3f} CPU-s/1000")
service = next(iter(by.get("startup", [])), None)
store = next(iter(by.get("history", [])), None)
if service:
    print(f"startup   {service['startup_s']:.2f} s for {service['targets']} targets "
          f"(load {service['config_load_s']:.2f} + start {service['service_start_s']:.2f} "
          f"+ first pass {service['first_loop_pass_s']:.2f})")
if service and store:
    total = (service["service_rss_bytes_per_target"] + store["store_full_rss_bytes_per_target"]
             - store["store_empty_heap_bytes_per_target"])
    print(f"memory    Service {service['service_rss_bytes_per_target']:.0f} B/target + full store "
          f"{store['store_full_rss_bytes_per_target']:.0f} - empty store counted twice "
          f"{store['store_empty_heap_bytes_per_target']:.0f} = {total:.0f} B ({total / 1024:.1f} KiB) "
          f"per target: <= 16 KiB {verdict(total <= 16 * 1024)}")
    print(json.dumps({"tool": "fetchd_daemon", "bench": "memory_total",
                      "bytes_per_target": total, "goal_bytes": 16 * 1024}))
for r in by.get("control", []):
    line = (f"control   {r['phase']:<5} {r['cmd']:<6} p50 {r['p50_us'] / 1000:.2f} ms "
            f"p99 {r['p99_us'] / 1000:.2f} ms max {r['max_us'] / 1000:.2f} ms "
            f"({r['targets']} targets, {r['fetches_per_s']:.0f} fetches/s)")
    if r["phase"] == "load":
        line += f": p99 < 5 ms {verdict(r['p99_us'] < r['goal_p99_us'])} (issue 4)"
    print(line)
for r in by.get("reload", []):
    print(f"reload    {r['kind']:<17} max loop gap {r['max_loop_gap_ms']:.0f} ms, total "
          f"{r['reload_total_ms']:.0f} ms: < 200 ms {verdict(r['max_loop_gap_ms'] < 200)}")
PY
echo "(raw JSON lines: $RAW)"
