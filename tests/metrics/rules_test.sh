#!/bin/sh
# Checks the Prometheus rules shipped for fetchd fleets (docs/fleet.md):
#   1. promtool check rules packaging/prometheus/fetchd-rules.yml (syntax, PromQL, templates);
#   2. promtool test rules tests/metrics/fetchd-rules.test.yml (the recording rules' values and
#      when each alert fires, on series of three instances).
# Usage: rules_test.sh REPO_ROOT. Exit 0 pass, 1 fail, 77 (ctest SKIP) without promtool.
set -u
if [ "$#" -ne 1 ]; then
  echo "usage: $0 REPO_ROOT" >&2
  exit 2
fi
root=$1

if ! command -v promtool >/dev/null 2>&1; then
  echo "SKIP: promtool not found (install prometheus)"
  exit 77
fi

status=0
promtool check rules "$root/packaging/prometheus/fetchd-rules.yml" || status=1
# The test file names its rule file relative to its own directory.
promtool test rules "$root/tests/metrics/fetchd-rules.test.yml" || status=1
exit "$status"
