#!/bin/bash
# Two builds of fetchd side by side in one run, for a change that must not cost anything: the
# engine (fetch_bench c=100), the daemon paced at 10,000 targets @ 2 s, 100,000-target start-up,
# memory and reload stall, and control round trips under load — each bench on build A, then on
# build B, back to back, so the machine's drift hits both alike.
#   bench/before_after.sh OLD_BUILD_DIR NEW_BUILD_DIR       e.g. a worktree of main's build/release
# Knobs: DURATION (rate window, default 20 s), ROUNDS (default 2: A B A B), CONTROL_REQUESTS (2000).
# Everything goes to the loopback nginx on 127.0.0.1:18080 (started here if none answers).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OLD=${1:?old build directory}
NEW=${2:?new build directory}
DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-2}
CONTROL_REQUESTS=${CONTROL_REQUESTS:-2000}
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
OUT=${OUTDIR:-/tmp/fetchd-bench/before-after-$(date +%Y%m%dT%H%M%S)}
URL=http://127.0.0.1:18080/
mkdir -p "$OUT"

STARTED=0
if ! curl -s -o /dev/null --max-time 1 $URL; then
  "$ANCHORS/nginx_ctl.sh" start
  STARTED=1
fi
stop() { if [ "$STARTED" = 1 ]; then "$ANCHORS/nginx_ctl.sh" stop; fi; }
trap stop EXIT

for round in $(seq "$ROUNDS"); do
  for side in old new; do
    build=$OLD
    [ "$side" = new ] && build=$NEW
    echo "# round $round, $side ($build), loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    timeout -k 5 300 "$build/bench/fetch_bench" --url $URL -n 20000 -c 100 |
      sed "s/^{/{\"side\":\"$side\",\"round\":$round,/" >>"$OUT/raw.jsonl"
    BUILD=$build DURATION=$DURATION DAEMON_BENCHES="rate scale control" CONTROL_PHASES=load \
      CONTROL_REQUESTS=$CONTROL_REQUESTS OUTDIR="$OUT/$side-$round" ONESHOT_JSON=/dev/null \
      "$ROOT/bench/daemon.sh" >"$OUT/$side-$round.log" 2>&1 || echo "($side round $round failed)" >&2
    grep '^{' "$OUT/$side-$round/raw.jsonl" | sed "s/^{/{\"side\":\"$side\",\"round\":$round,/" \
      >>"$OUT/raw.jsonl"
  done
done

/usr/bin/python3 - "$OUT/raw.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def pick(side, pred, key):
    vals = [key(r) for r in rows if r["side"] == side and pred(r)]
    return statistics.median(vals) if vals else float("nan")
measures = [
    ("engine c=100 CPU-s/1000", lambda r: r.get("tool") == "fetchd" and r.get("c") == 100,
     lambda r: r["cpu_s_per_1000"]),
    ("engine c=100 fetches/s", lambda r: r.get("tool") == "fetchd" and r.get("c") == 100,
     lambda r: r["fetches_per_s"]),
    ("daemon 10k@2s CPU-s/1000", lambda r: r.get("bench") == "rate", lambda r: r["cpu_s_per_1000"]),
    ("daemon 10k@2s lateness p99 ms", lambda r: r.get("bench") == "rate",
     lambda r: r["lateness_us"]["p99"] / 1000),
    ("100k start-up s", lambda r: r.get("bench") == "startup", lambda r: r["startup_s"]),
    ("100k RSS B/target", lambda r: r.get("bench") == "startup",
     lambda r: r["service_rss_bytes_per_target"]),
    ("reload unchanged max stall ms", lambda r: r.get("bench") == "reload" and r["kind"] == "unchanged",
     lambda r: r["max_loop_gap_ms"]),
    ("reload 1% changed max stall ms", lambda r: r.get("bench") == "reload" and r["kind"] != "unchanged",
     lambda r: r["max_loop_gap_ms"]),
    ("control status p99 ms (load)", lambda r: r.get("bench") == "control" and r["cmd"] == "status",
     lambda r: r["p99_us"] / 1000),
    ("control show p99 ms (load)", lambda r: r.get("bench") == "control" and r["cmd"] == "show",
     lambda r: r["p99_us"] / 1000),
]
print(f"\n{'median over rounds':<34}{'before':>12}{'after':>12}{'after/before':>14}")
for label, pred, key in measures:
    old, new = pick("old", pred, key), pick("new", pred, key)
    ratio = new / old if old else float("nan")
    print(f"{label:<34}{old:>12.3f}{new:>12.3f}{ratio:>14.2f}")
PY
echo "(raw JSON lines: $OUT/raw.jsonl)"
