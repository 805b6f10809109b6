#!/bin/sh
# The soak benchmark (bench/soak.py): fetchd for SOAK_MINUTES (default 60) with 10,000 targets at
# 2 s against nginx (http, https), closed ports, hostile servers and unresolvable and stalled
# names, control clients busy meanwhile; a line of figures every SAMPLE_SECONDS (60), slopes at
# the end. Starts the anchors' loopback nginx (http 18080, https 18443) if it is not running.
#   bench/soak.sh                                   an hour, release build
#   SOAK_MINUTES=10 BUILD=build/asan bench/soak.sh  ten minutes under ASan
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
export BUILD
ninja -C "$BUILD" fetchd >/dev/null
exec "$ROOT/bench/with_anchor_nginx.sh" /usr/bin/python3 "$ROOT/bench/soak.py"
