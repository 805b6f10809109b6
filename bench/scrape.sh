#!/bin/sh
# The scrape benchmark (bench/scrape.py): /metrics of 10,000 and 100,000 targets (SCRAPE_TARGETS)
# while fetchd fetches 5,000/s from the anchors' loopback nginx, beside one probe of
# blackbox_exporter (if installed). Starts nginx if it is not running.
#   bench/scrape.sh
#   SCRAPE_TARGETS=10000 SCRAPES=3 bench/scrape.sh   quicker
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
export BUILD
ninja -C "$BUILD" fetchd fetchctl >/dev/null
exec "$ROOT/bench/with_anchor_nginx.sh" /usr/bin/python3 "$ROOT/bench/scrape.py"
