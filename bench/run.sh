#!/bin/bash
# fetchd engine benchmark, with the peer fetchers of ../shared/anchors in the same run when present.
#   bench/run.sh                 N=20000 fetches at C=100 and C=1000, then the peers at C=100
#   N=5000 CS="100" PEERS="" bench/run.sh
#   DAEMON=0 bench/run.sh        without the daemon benchmark (bench/daemon.sh; DURATION=20 shortens it)
#   CONTROL=0 bench/run.sh       without the control-socket latency bench (part of bench/daemon.sh)
# nginx on 127.0.0.1:18080 (1 worker, 1 KiB page); every fetch opens a new connection (the engine
# always sends Connection: close). All traffic stays on loopback; every loop is bounded.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=${N:-20000}
CS=${CS:-"100 1000"}
REPS=${REPS:-1}
PEERS=${PEERS-"curl seed_asyncio wrk_close"}  # PEERS="" skips them
DAEMON=${DAEMON:-1}
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
BUILD=${BUILD:-$ROOT/build/release}
URL=http://127.0.0.1:18080/

"$ROOT/scripts/install-deps.sh" --test
need=""
for p in nginx wrk curl; do command -v $p >/dev/null || need="$need $p"; done
[ -x /usr/sbin/nginx ] || need="$need nginx"
if [ -n "$need" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx wrk curl python3-aiohttp
fi
[ -f "$BUILD/build.ninja" ] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
targets=(fetch_bench)
[ "$DAEMON" = 1 ] && targets+=(daemon_bench)
ninja -C "$BUILD" "${targets[@]}" >/dev/null

# One nginx for fetchd and its peers: the anchors' own control script when it is there.
PREFIX=/tmp/fetchd-bench/nginx
start_nginx() {
  if [ -x "$ANCHORS/nginx_ctl.sh" ]; then "$ANCHORS/nginx_ctl.sh" start; return; fi
  mkdir -p "$PREFIX"/{logs,html,temp}
  head -c 1024 /dev/zero | tr '\0' 'x' > "$PREFIX/html/index.html"
  chmod -R a+rX /tmp/fetchd-bench
  cp "$ROOT/bench/nginx.conf" "$PREFIX/nginx.conf"
  /usr/sbin/nginx -p "$PREFIX/" -e logs/error.log -c "$PREFIX/nginx.conf" &
  echo $! > "$PREFIX/master.pid"
  for _ in $(seq 1 50); do curl -s -o /dev/null --max-time 1 $URL && return 0; sleep 0.1; done
  echo "nginx did not start" >&2; cat "$PREFIX/logs/error.log" >&2; return 1
}
stop_nginx() {
  if [ -x "$ANCHORS/nginx_ctl.sh" ]; then "$ANCHORS/nginx_ctl.sh" stop; return; fi
  if [ -s "$PREFIX/master.pid" ]; then kill -QUIT "$(cat "$PREFIX/master.pid")" 2>/dev/null || true; fi
}
start_nginx
trap stop_nginx EXIT

echo "# fetchd engine: N=$N CS='$CS' REPS=$REPS $(nproc) CPUs $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p /tmp/fetchd-bench
ENGINE_JSON=$(mktemp /tmp/fetchd-bench/engine.XXXXXX.jsonl)
for _ in $(seq 1 "$REPS"); do
  for c in $CS; do
    { timeout -k 5 300 "$BUILD/bench/fetch_bench" --url $URL -n "$N" -c "$c" || echo "(errors above)"; } |
      tee -a "$ENGINE_JSON"
    sleep 1
  done
done

if [ "$DAEMON" = 1 ]; then
  echo
  echo "# daemon (the real Service in-process), same nginx, same run"
  BUILD=$BUILD ANCHORS=$ANCHORS ONESHOT_JSON=$ENGINE_JSON "$ROOT/bench/daemon.sh"
fi

if [ -n "$PEERS" ] && [ -x "$ANCHORS/run_all.sh" ]; then
  echo
  echo "# peers, same nginx, same run"
  REPS=$REPS N=$N CS="${PEER_CS:-100}" TOOLS="$PEERS" "$ANCHORS/run_all.sh"
fi
