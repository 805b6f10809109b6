#!/bin/sh
# Runs a command with the anchors' loopback nginx up (http 18080, https 18443), starting each only
# if it is not running already and stopping what it started. For the soak and scrape benchmarks.
#   bench/with_anchor_nginx.sh COMMAND [ARGS...]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
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
"$@" || status=$?
[ "$started_https" = 0 ] || "$ANCHORS/https_nginx.sh" stop >/dev/null
[ "$started_http" = 0 ] || "$ANCHORS/nginx_ctl.sh" stop >/dev/null
exit "$status"
