#!/bin/sh
# Installs the Debian 12 packages fetchd needs to build and test, only those that are missing, so a
# second run costs one dpkg query. Uses sudo when not root.
set -eu

packages="cmake ninja-build g++ pkg-config libasio-dev nlohmann-json3-dev libspdlog-dev libsystemd-dev
libssl-dev libc-ares-dev libisal-dev libgtest-dev openssl zlib1g-dev"
if [ "${1:-}" = "--test" ]; then
  # Tests start a real nginx on loopback, format-check the tree, lint the shell scripts and the C++
  # (clang-tidy-16: 14 rejects C++20 lambda captures of structured bindings), and lint the man
  # pages as lintian does (man --warnings; tests/packaging/man_test.sh).
  # libFuzzer and clang's sanitizer runtimes for the fuzz targets (clang-16: see tests/fuzz/), h11
  # as a second HTTP parser (tests/http/h11_differential.py), iproute2 and util-linux for the tests
  # in network namespaces of their own, libfaketime for the wall-clock step test, and Prometheus
  # (2.42: its promtool lints /metrics, and a real server scrapes it in
  # tests/integration/prometheus_test.py; alertmanager as the rules' counterpart).
  packages="$packages nginx clang-format shellcheck clang-tidy-16 python3-jsonschema man-db groff-base
clang-16 libfuzzer-16-dev libclang-rt-16-dev python3-h11 iproute2 util-linux faketime prometheus
prometheus-alertmanager"
elif [ "${1:-}" = "--package" ]; then
  # make package / make e2e: build the .deb, lint it, and boot Debian 12 with systemd in a
  # container (tests/packaging/nspawn_e2e.sh).
  packages="$packages dpkg-dev debhelper lintian systemd-container mmdebstrap"
fi

missing=""
for package in $packages; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing="$missing $package"
done
[ -z "$missing" ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing:$missing"
$sudo apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
