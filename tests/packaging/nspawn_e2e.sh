#!/bin/bash
# End to end under a real systemd: boots a minimal Debian 12 root with systemd as PID 1 in a
# systemd-nspawn container (its own network namespace: only its loopback exists), installs the
# built .deb there and checks the package and the service's life under systemd:
#   install enables and starts fetchd.socket and fetchd.service; fetches work under the hardening,
#   and so does a notification command;
#   fetchctl works for root and the group fetchd and is refused to others; systemctl reload applies
#   an edit and keeps the old configuration on a broken one; the journal carries the state-change
#   lines with their priorities; the packaged web_listen serves /-/ready and /metrics; SIGSEGV and
#   a frozen loop (SIGSTOP, watchdog) are restarted; socket activation starts the stopped service;
#   the optional fetchd-web.socket, once enabled, is adopted instead of web_listen and survives
#   restarts and the upgrade, as do the results (no state change logged again); remove stops it
#   all, purge removes the state.
#
# Usage: nspawn_e2e.sh FETCHD_DEB
# Exit 0 all passed, 1 a check failed, 77 the machine cannot run it (the reason is printed).
# The root image (mmdebstrap, the host's configured Debian mirror) is cached in
# $FETCHD_E2E_CACHE (default /var/cache/fetchd-e2e), keyed by its package list and apt sources;
# every run boots it with --volatile=overlay, so the cached tree is never changed.
set -uo pipefail

deb=${1:?usage: nspawn_e2e.sh FETCHD_DEB}
cache=${FETCHD_E2E_CACHE:-/var/cache/fetchd-e2e}
sources=/etc/apt/sources.list.d/debian.sources

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (systemd-nspawn boots a container)"
for tool in systemd-nspawn mmdebstrap nsenter dpkg-deb; do
  command -v "$tool" >/dev/null || skip "$tool not found (apt-get install systemd-container mmdebstrap)"
done
[ -r "$sources" ] || skip "no $sources to take the Debian mirror from"
unshare --mount --pid --net --fork true 2>/dev/null || skip "cannot create namespaces here"
[ -r "$deb" ] || {
  echo "FAIL: no package at $deb (build it with packaging/build-deb.sh)"
  exit 1
}
deb=$(realpath "$deb")

# --- The root image ---------------------------------------------------------------------------
# The package's run-time dependencies (first alternative of each, versions dropped) come from the
# .deb itself, so a new library dependency needs no edit here. procps: /bin/kill for ExecReload=;
# nginx-light: a web server on the container's loopback for the targets; curl: scrapes the metrics
# listener (`fetchd once` prints only the headers).
packages=$( (echo systemd dbus procps nginx-light curl
             dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//') |
           tr -s ' \n' '\n' | grep -v -e '^\$' -e '^$' | sort -u | paste -sd, -)
key=$( (echo "$packages"; cat "$sources") | sha256sum | cut -c1-16)
root=$cache/bookworm-$key
if [ ! -x "$root/lib/systemd/systemd" ]; then
  echo "building the root image $root ($packages)"
  mkdir -p "$cache"
  rm -rf "$root.partial"
  # Into a temporary name first: an interrupted build never looks like a cached image.
  if ! timeout 600 mmdebstrap --variant=minbase --include="$packages" \
      --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Check-Date "false"' \
      bookworm "$root.partial" - <"$sources" >"$cache/mmdebstrap.log" 2>&1; then
    echo "FAIL: mmdebstrap failed; the end of $cache/mmdebstrap.log:"
    tail -20 "$cache/mmdebstrap.log"
    exit 1
  fi
  mv "$root.partial" "$root"
else
  echo "using the cached root image $root"
fi

# --- Boot ---------------------------------------------------------------------------------------
work=$(mktemp -d /tmp/fetchd-e2e.XXXXXX)
cp "$deb" "$work/fetchd.deb"
nspawn_pid=""
leader=""
cleanup() {
  if [ -n "$leader" ] && kill -0 "$leader" 2>/dev/null; then
    timeout 20 nsenter -t "$leader" -a systemctl poweroff >/dev/null 2>&1
    for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  [ -n "$nspawn_pid" ] && kill -KILL "$nspawn_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --keep-unit and --register=no: there is no host systemd or machined here. Pure cgroup v2 as on
# real hosts. --private-network: the container's traffic can only ever reach its own loopback.
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn -D "$root" --register=no --keep-unit \
  --volatile=overlay --private-network -q -b --console=pipe --bind-ro="$work:/opt/e2e" \
  </dev/null >"$work/nspawn.log" 2>&1 &
nspawn_pid=$!

# nspawn forks twice: the container's PID 1 is the child whose command is "systemd".
deadline=$((SECONDS + 30))
while [ -z "$leader" ] && [ $SECONDS -lt $deadline ]; do
  for child in $(ps --ppid "$nspawn_pid" -o pid= 2>/dev/null); do
    [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ] && leader=$child
  done
  [ -n "$leader" ] || sleep 0.1
done
if [ -z "$leader" ]; then
  echo "FAIL: the container did not boot; nspawn said:"
  cat "$work/nspawn.log"
  exit 1
fi

# In the container, as root (or as USER with its groups: `as alice cmd...`).
in_container() { timeout -k 5 60 nsenter -t "$leader" -a "$@"; }
as() {
  local user=$1
  shift
  in_container setpriv --reuid="$user" --regid="$user" --init-groups "$@"
}
# Polls a command in the container until it succeeds, at most SECONDS seconds.
wait_until() {
  local seconds=$1
  shift
  local until=$((SECONDS + seconds))
  while [ $SECONDS -lt $until ]; do
    in_container "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
property() { in_container systemctl show -P "$2" "$1"; }

passed=0
failed=0
# check NAME COMMAND...: what the command printed is shown only when it fails.
check() {
  local name=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then
    echo "ok: $name"
    passed=$((passed + 1))
  else
    echo "FAIL: $name"
    sed 's/^/  | /' "$work/check.out" | tail -30
    failed=$((failed + 1))
  fi
}
equals() {
  [ "$1" = "$2" ] && return 0
  echo "expected '$2', got '$1'"
  return 1
}
contains() {
  case "$1" in *"$2"*) return 0 ;; esac
  echo "expected to contain '$2':"
  printf '%s\n' "$1"
  return 1
}
differs() {
  [ "$1" != "$2" ] && return 0
  echo "expected something other than '$2'"
  return 1
}
lacks() {
  case "$1" in *"$2"*)
    echo "expected not to contain '$2'"
    return 1
    ;;
  esac
  return 0
}

wait_until 30 test -S /run/systemd/private
state=$(in_container timeout 30 systemctl is-system-running --wait)
check "the container boots to running (got: $state)" equals "$state" running

# --- Install -------------------------------------------------------------------------------------
check "dpkg -i installs the package" in_container dpkg -i /opt/e2e/fetchd.deb
check "install enables fetchd.service" equals "$(in_container systemctl is-enabled fetchd.service)" enabled
check "install enables fetchd.socket" equals "$(in_container systemctl is-enabled fetchd.socket)" enabled
check "install starts fetchd.socket" equals "$(in_container systemctl is-active fetchd.socket)" active
check "install starts fetchd.service (READY=1)" equals "$(in_container systemctl is-active fetchd.service)" active
# Optional: the packaged web_listen already holds its port.
check "install does not enable fetchd-web.socket" \
  equals "$(in_container systemctl is-enabled fetchd-web.socket 2>&1)" disabled
check "install does not start fetchd-web.socket" \
  equals "$(in_container systemctl is-active fetchd-web.socket)" inactive
check "the service runs as the user fetchd" \
  equals "$(in_container ps -o user= -p "$(property fetchd.service MainPID)")" fetchd
socket_mode=$(in_container stat -c '%a %U %G' /run/fetchd/control.sock)
check "the control socket is 0660 root:fetchd" equals "$socket_mode" "660 root fetchd"
exposure=$(in_container systemd-analyze security fetchd.service 2>&1 |
           sed -nE 's/.*Overall exposure level for [^:]+: ([0-9.]+) .*/\1/p')
check "live exposure level $exposure is at most 1.5" awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 1.5) }'

# --- Configuration and reload ----------------------------------------------------------------
# A name from /etc/hosts (c-ares under the sandbox) served by the container's nginx, and a closed
# port for a DOWN target (a warning).
in_container sh -c 'printf "127.0.0.1 localhost probe.test\n::1 localhost\n" >/etc/hosts'
cat >"$work/e2e.json" <<'EOF'
{
  "defaults": {"interval": "500ms", "timeout": "2s"},
  "alerts": {"commands": [{"name": "record", "match": {"names": ["closed"]},
                           "argv": ["/bin/sh", "-c", "env > /var/lib/fetchd/notified.env"]}]},
  "targets": [
    {"name": "web", "url": "http://probe.test/"},
    {"name": "closed", "url": "http://127.0.0.1:9/"}
  ]
}
EOF
in_container cp /opt/e2e/e2e.json /etc/fetchd/conf.d/e2e.json
check "systemctl reload succeeds" in_container systemctl reload fetchd.service
check "the reload is applied: web is up" wait_until 15 sh -c 'fetchctl --json list --state up | grep -q "\"name\":\"web\""'
check "closed is down" wait_until 15 sh -c 'fetchctl --json list --state down | grep -q "\"name\":\"closed\""'
check "a notification command runs under the hardened unit, told FETCHD_*" wait_until 15 sh -c \
  'grep -q "^FETCHD_NAME=closed$" /var/lib/fetchd/notified.env && grep -q "^FETCHD_STATE=DOWN$" /var/lib/fetchd/notified.env'
# STATUS= is refreshed every 5 s.
check "STATUS= counts the targets and says the reload was ok" wait_until 15 sh -c \
  'systemctl show -P StatusText fetchd.service | grep -q "^2 targets: 1 up, 1 down · .* · last reload ok$"'

in_container sh -c 'printf "{\n  \"targets\": [ {\"name\": \"broken\" ]\n}\n" >/etc/fetchd/conf.d/e2e.json'
check "systemctl reload of a broken edit returns" in_container systemctl reload fetchd.service
check "the refusal shows in STATUS=" wait_until 10 sh -c \
  'systemctl show -P StatusText fetchd.service | grep -q "last reload refused: /etc/fetchd/conf.d/e2e.json:2"'
check "the broken edit keeps the old configuration running" \
  contains "$(in_container fetchctl list 2>&1)" "web"
check "the service is still active" equals "$(in_container systemctl is-active fetchd.service)" active
check "fetchctl status names the refused reload" \
  contains "$(in_container fetchctl status 2>&1)" "e2e.json:2"
# The operator fixes the edit (a restart would otherwise fail in ExecStartPre=).
in_container cp /opt/e2e/e2e.json /etc/fetchd/conf.d/e2e.json
check "fetchctl reload applies the fixed edit" in_container fetchctl reload
check "and systemd saw that reload (STATUS=)" contains "$(property fetchd.service StatusText)" "last reload ok"

# --- Metrics -----------------------------------------------------------------------------------
# The packaged /etc/fetchd/fetchd.json has web_listen ["127.0.0.1:9516"].
scrape() { in_container curl -sS --max-time 30 "$@"; }
ready_code() { scrape -o /dev/null -w '%{http_code}' http://127.0.0.1:9516/-/ready; }
web_is_up_in_metrics='curl -fsS --max-time 5 http://127.0.0.1:9516/metrics |
  grep -qx "probe_success{name=\"web\"} 1"'
check "the hardening allows listening (RestrictAddressFamilies has AF_INET)" \
  contains "$(property fetchd.service RestrictAddressFamilies)" "AF_INET"
check "the journal says the packaged web_listen listens" contains \
  "$(in_container journalctl -u fetchd.service -o cat --no-pager)" "metrics: listening on 127.0.0.1:9516"
check "GET /-/ready is 200" equals "$(ready_code)" 200
check "/metrics has probe_success{name=\"web\"} 1" wait_until 15 sh -c "$web_is_up_in_metrics"

# --- Journal ---------------------------------------------------------------------------------
journal=$(in_container journalctl -u fetchd.service -o cat --no-pager)
check "the journal has the UP line" contains "$journal" "web is UP: "
check "the journal has the DOWN line" contains "$journal" "closed is DOWN: "
warnings=$(in_container journalctl -u fetchd.service -p warning -o cat --no-pager)
check "journalctl -p warning shows the DOWN line" contains "$warnings" "closed is DOWN: "
check "journalctl -p warning shows the refused reload" contains "$warnings" "reload refused"
check "journalctl -p warning leaves out the UP line (info)" lacks "$warnings" "web is UP"
check "journalctl -p warning leaves out start-up lines (info)" lacks "$warnings" "fetchd started"

# --- Access ----------------------------------------------------------------------------------
in_container useradd --no-create-home --groups fetchd alice
in_container useradd --no-create-home bob
check "fetchctl status works for root" in_container fetchctl status
check "fetchctl status works for a member of group fetchd" as alice fetchctl status
check "a member of group fetchd may fetch now" as alice fetchctl fetch web --wait
as bob fetchctl status >"$work/bob.out" 2>&1
bob_rc=$?
check "fetchctl is refused to other users (exit 3)" equals "$bob_rc" 3
check "and says why" contains "$(cat "$work/bob.out")" "ermission denied"

# --- Crashes and the watchdog -----------------------------------------------------------------
in_container fetchctl add extra http://127.0.0.1/ >/dev/null
first_pid=$(property fetchd.service MainPID)
# Guarded: `kill -SEGV 0` would signal the test's own process group.
[ "${first_pid:-0}" -gt 1 ] && in_container kill -SEGV "$first_pid"
check "SIGSEGV: systemd restarts the service" wait_until 20 sh -c \
  "test \"\$(systemctl show -P NRestarts fetchd.service)\" = 1 && systemctl is-active -q fetchd.service"
check "a new main pid" differs "$(property fetchd.service MainPID)" "$first_pid"
check "a target added at run time survives the crash" in_container fetchctl show extra

# The shipped WatchdogSec=30s is too long to wait for; 3 s in a drop-in, as an operator would.
in_container mkdir -p /etc/systemd/system/fetchd.service.d
in_container sh -c 'printf "[Service]\nWatchdogSec=3s\n" >/etc/systemd/system/fetchd.service.d/e2e.conf'
in_container systemctl daemon-reload
in_container systemctl restart fetchd.service
restarts=$(property fetchd.service NRestarts)
# Longer than WatchdogSec: a loop that pings keeps the service alive.
sleep 4
check "the watchdog pings keep the service alive" equals "$(property fetchd.service NRestarts)" "$restarts"
frozen_pid=$(property fetchd.service MainPID)
[ "${frozen_pid:-0}" -gt 1 ] && in_container kill -STOP "$frozen_pid"
check "SIGSTOP: the watchdog restarts the frozen daemon" wait_until 30 sh -c \
  "test \"\$(systemctl show -P NRestarts fetchd.service)\" = $((restarts + 1)) && systemctl is-active -q fetchd.service"
check "the journal says it was the watchdog" contains \
  "$(in_container journalctl -u fetchd.service -o cat --no-pager)" "Watchdog timeout"

# --- Socket activation -------------------------------------------------------------------------
in_container systemctl stop fetchd.service 2>/dev/null
check "stopped: the service is inactive" equals "$(in_container systemctl is-active fetchd.service)" inactive
check "the socket still listens" equals "$(in_container systemctl is-active fetchd.socket)" active
check "a request starts the service and is answered" as alice fetchctl status
check "the service is active again" equals "$(in_container systemctl is-active fetchd.service)" active
before_restart=$(property fetchd.service MainPID)
in_container systemctl restart --no-block fetchd.service
check "a request made while it restarts waits and is answered" as alice fetchctl status
check "and the restart completed (a new main pid)" differs "$(property fetchd.service MainPID)" "$before_restart"

# --- The optional metrics socket: fetchd-web.socket ---------------------------------------------
# The running daemon holds 127.0.0.1:9516 (web_listen), so it is stopped before the socket binds;
# web_listen stays in the configuration: a passed socket named "web" replaces it.
adopted='adopting the metrics socket passed by systemd'
bound='metrics: listening on'
# How many lines of the service's journal contain TEXT.
log_count() { in_container journalctl -u fetchd.service -o cat --no-pager | grep -c -F -- "$1"; }
# Polls (10 s at most) until more than COUNT lines of the service's journal contain TEXT.
log_grows() {
  local text=$1 count=$2 until=$((SECONDS + 10))
  while [ $SECONDS -lt $until ]; do
    [ "$(log_count "$text")" -gt "$count" ] && return 0
    sleep 0.2
  done
  echo "still $(log_count "$text") lines with '$text' (expected more than $count)"
  return 1
}
adopted_before=$(log_count "$adopted")
bound_before=$(log_count "$bound")
in_container systemctl stop fetchd.service 2>/dev/null
check "systemctl enable --now fetchd-web.socket" in_container systemctl enable --now fetchd-web.socket
check "fetchd-web.socket listens" equals "$(in_container systemctl is-active fetchd-web.socket)" active
check "a scrape starts the stopped service and is answered (200)" equals "$(ready_code)" 200
check "the service is active again" equals "$(in_container systemctl is-active fetchd.service)" active
check "the journal says it adopted the socket" log_grows "$adopted" "$adopted_before"
check "and it did not bind web_listen itself" equals "$(log_count "$bound")" "$bound_before"
check "the adopted socket serves /metrics" wait_until 15 sh -c "$web_is_up_in_metrics"
before_restart=$(property fetchd.service MainPID)
in_container systemctl restart --no-block fetchd.service
check "a scrape made while it restarts waits and is answered (200)" equals "$(ready_code)" 200
# The old daemon may have answered that scrape before it stopped.
check "and the restart completed (a new main pid)" wait_until 15 sh -c \
  "test \"\$(systemctl show -P MainPID fetchd.service)\" != $before_restart && systemctl is-active -q fetchd.service"

# --- Upgrade -------------------------------------------------------------------------------------
before_upgrade=$(property fetchd.service MainPID)
adopted_before=$(log_count "$adopted")
restored_before=$(log_count "results restored for")
up_lines_before=$(log_count "web is UP")
check "reinstalling the package (the upgrade path) succeeds" in_container dpkg -i /opt/e2e/fetchd.deb
check "the upgrade restarts the service" differs "$(property fetchd.service MainPID)" "$before_upgrade"
check "the service is active after the upgrade" \
  equals "$(in_container systemctl is-active fetchd.service)" active
check "targets added at run time survive the upgrade" in_container fetchctl show extra
check "the edited configuration survives the upgrade" in_container fetchctl show web
check "fetchd-web.socket stays enabled after the upgrade" \
  equals "$(in_container systemctl is-enabled fetchd-web.socket 2>&1)" enabled
check "and the upgraded daemon adopts it again" log_grows "$adopted" "$adopted_before"
check "metrics are answered after the upgrade" wait_until 15 sh -c "$web_is_up_in_metrics"
check "the results survive the upgrade (restored from /var/lib/fetchd)" \
  log_grows "results restored for" "$restored_before"
check "and web, UP before, logs no change to UP again" equals "$(log_count "web is UP")" \
  "$up_lines_before"

# --- Remove and purge --------------------------------------------------------------------------
in_container dpkg -r fetchd >"$work/remove.log" 2>&1
check "dpkg -r stops the service" equals "$(in_container systemctl is-active fetchd.service)" inactive
check "dpkg -r stops the socket" equals "$(in_container systemctl is-active fetchd.socket)" inactive
check "dpkg -r stops fetchd-web.socket" equals "$(in_container systemctl is-active fetchd-web.socket)" inactive
check "dpkg -r keeps the state" in_container test -d /var/lib/fetchd
in_container dpkg -P fetchd >"$work/purge.log" 2>&1
check "dpkg -P removes the state" in_container test ! -e /var/lib/fetchd
check "dpkg -P removes /etc/fetchd" in_container test ! -e /etc/fetchd/fetchd.json
check "dpkg -P removes the symlink of the enabled fetchd-web.socket" \
  in_container test ! -e /etc/systemd/system/sockets.target.wants/fetchd-web.socket

echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
  echo "--- journal of fetchd.service (last 60 lines)"
  in_container journalctl -u fetchd.service -o short-monotonic --no-pager | tail -60
  echo "--- journal of the sockets (last 40 lines)"
  in_container journalctl -u fetchd-web.socket -u fetchd.socket -o short-monotonic --no-pager |
    tail -40
fi
[ "$failed" -eq 0 ]
