#!/bin/sh
# The soak benchmark (bench/soak.py): fetchd for SOAK_MINUTES (default 60) with 10,000 targets at
# 2 s against nginx (http, https), closed ports, hostile servers and unresolvable and stalled
# names, control clients busy meanwhile; a line of figures every SAMPLE_SECONDS (60), slopes at
# the end. Starts the anchors' loopback nginx (http 18080, https 18443) if it is not running.
#   bench/soak.sh                                   an hour, release build
#   SOAK_MINUTES=10 BUILD=build/asan bench/soak.sh  ten minutes under ASan
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
BUILD=${BUILD:-$ROOT/build/release}
export BUILD
ninja -C "$BUILD" fetchd >/dev/null
started_http=0
started_https=0
if ! curl -s -o /dev/null --max-time 1 http://127.0.0.1:18080/; then
  "$ANCHORS/nginx_ctl.sh" start >/dev/null
  started_http=1
fi
if ! curl -sk -o /dev/null --max-time 1 https://127.0.0.1:18443/; then
  "$ANCHORS/https_nginx.sh" start >/dev/null
  started_https=1
fi
status=0
/usr/bin/python3 "$ROOT/bench/soak.py" || status=$?
[ "$started_https" = 0 ] || "$ANCHORS/https_nginx.sh" stop >/dev/null
[ "$started_http" = 0 ] || "$ANCHORS/nginx_ctl.sh" stop >/dev/null
exit "$status"
