#!/bin/sh
# Lints the shipped systemd units and the system configuration example:
#   1. `systemd-analyze verify` prints nothing at all (it exits 0 on unknown keys and bad values, so
#      any output is a failure) for fetchd.service, fetchd.socket and the optional
#      fetchd-web.socket, on a copy whose /usr/sbin/fetchd points at the built binary;
#   2. `systemd-analyze security --offline=yes` rates fetchd.service at most 1.5 ("OK");
#   3. `fetchd --check-config` accepts packaging/fetchd.json.
# Usage: unit_test.sh PACKAGING_DIR FETCHD_BINARY. Exit 77 (ctest SKIP) without systemd-analyze.
set -u
packaging=$1
fetchd=$2
max_exposure=1.5

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze not found (install systemd)"
  exit 77
fi

failed=0
fail() { echo "FAIL: $*"; failed=1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fetchd-unit-test.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

# 1. verify. The units sit alone in a clean directory (verify adds it to the search path and
# loads the siblings; Requires=fetchd.socket and the sockets' Service=fetchd.service must resolve).
# --man=no: the man pages are not installed here.
sed "s|/usr/sbin/fetchd|$fetchd|g" "$packaging/fetchd.service" >"$work/fetchd.service"
cp "$packaging/fetchd.socket" "$packaging/fetchd-web.socket" "$work/"
verify_output=$(cd "$work" &&
                systemd-analyze verify --man=no ./fetchd.service ./fetchd.socket ./fetchd-web.socket 2>&1)
verify_rc=$?
if [ "$verify_rc" -ne 0 ] || [ -n "$verify_output" ]; then
  fail "systemd-analyze verify (rc $verify_rc):"
  printf '%s\n' "$verify_output"
else
  echo "ok: systemd-analyze verify is clean"
fi

# 2. security, on the shipped file itself.
security_output=$(systemd-analyze security --offline=yes "$packaging/fetchd.service" 2>&1)
exposure=$(printf '%s\n' "$security_output" |
           sed -nE 's/.*Overall exposure level for [^:]+: ([0-9.]+) .*/\1/p')
if [ -z "$exposure" ]; then
  fail "no exposure level in the output of systemd-analyze security:"
  printf '%s\n' "$security_output"
elif awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'; then
  echo "ok: exposure level $exposure (at most $max_exposure)"
else
  fail "exposure level $exposure is above $max_exposure; the failing checks:"
  printf '%s\n' "$security_output" | grep '✗'
fi

# 3. the system configuration example.
check_output=$("$fetchd" --check-config --config "$packaging/fetchd.json" 2>&1)
check_rc=$?
if [ "$check_rc" -ne 0 ]; then
  fail "fetchd --check-config packaging/fetchd.json (rc $check_rc):"
  printf '%s\n' "$check_output"
else
  echo "ok: fetchd --check-config: $check_output"
fi

exit "$failed"
