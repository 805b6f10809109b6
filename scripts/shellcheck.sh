#!/bin/sh
# Runs shellcheck on every shell script git knows: *.sh, and any other file whose first line is a
# sh or bash shebang (.ci/run, maintainer scripts such as packaging/debian/fetchd.postrm), so a new
# script is checked without being listed anywhere. Exit status is shellcheck's.
set -eu
cd "$(dirname "$0")/.."

# shellcheck disable=SC2016  # the inner script expands its own arguments
scripts=$(git ls-files -z | xargs -0 sh -c '
  for f do
    [ -f "$f" ] || continue
    case "$f" in
      *.sh) echo "$f" ;;
      *) head -n 1 "$f" | grep -Eq "^#!(/usr)?/bin/(env )?(ba)?sh( |\$)" && echo "$f" ;;
    esac
  done
  true' sh)
# shellcheck disable=SC2086  # one word per path; git paths here have no blanks
shellcheck --external-sources $scripts
echo "shellcheck ok: $(echo "$scripts" | wc -l) scripts"
