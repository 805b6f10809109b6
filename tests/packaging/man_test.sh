#!/bin/sh
# Lints the shipped man pages (packaging/man/) and checks them for drift against the programs:
#   1. `man --warnings` prints nothing for each page, exactly as lintian runs it, and
#      `groff -man -ww -z` is silent too;
#   2. fetchd.8 names every option that `fetchd --help` prints (the daemon's and `fetchd once`'s);
#   3. fetchctl.1 names every option of `fetchctl --help` and of each `fetchctl COMMAND --help`,
#      and has an entry (a `.B COMMAND ...` line in its COMMANDS section) for every command that
#      `fetchctl --help` lists.
# Options are looked for in the roff source, spelled as roff writes them (every "-" as "\-"),
# and must not be followed by more of an option name (--head is not found in --header).
# Usage: man_test.sh PACKAGING_DIR FETCHD_BINARY FETCHCTL_BINARY. Exit 77 (ctest SKIP) without man.
set -u
set -f  # word splitting of option lists below, never globbing
packaging=$1
fetchd=$2
fetchctl=$3
pages="fetchd.8 fetchctl.1 fetchd.json.5"

if ! command -v man >/dev/null 2>&1 || ! command -v groff >/dev/null 2>&1; then
  echo "SKIP: man or groff not found (install man-db groff-base)"
  exit 77
fi

failed=0
fail() { echo "FAIL: $*"; failed=1; }

# 1. Lint. lintian's command line and environment (lib/Lintian/Check/Documentation/Manual.pm:
# nothing but PATH, LC_ALL, MANROFFSEQ and MANWIDTH, which is 120 there and 80 for a terminal);
# anything on stderr is a lintian warning.
for page in $pages; do
  file=$packaging/man/$page
  if [ ! -f "$file" ]; then
    fail "$file is missing"
    continue
  fi
  lint_output=""
  lint_rc=0
  for width in 80 120; do
    output=$(env -i PATH="$PATH" LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=$width \
             man --warnings -E UTF-8 -l -Tutf8 -Z "$file" 2>&1 >/dev/null) || lint_rc=$?
    [ -z "$output" ] || lint_output="$lint_output(MANWIDTH=$width) $output
"
  done
  groff_output=$(groff -man -ww -z "$file" 2>&1)
  groff_rc=$?
  if [ "$lint_rc" -ne 0 ] || [ -n "$lint_output" ]; then
    fail "man --warnings $page (rc $lint_rc):"
    printf '%s' "$lint_output"
  elif [ "$groff_rc" -ne 0 ] || [ -n "$groff_output" ]; then
    fail "groff -man -ww -z $page (rc $groff_rc):"
    printf '%s\n' "$groff_output"
  else
    echo "ok: $page lints cleanly"
  fi
done

# The options a help text mentions, one per line: long ones (--name) and short ones (-k, -4).
options_in() {
  printf '%s\n' "$1" |
    grep -oE '(^|[^A-Za-z0-9_-])--[A-Za-z0-9][A-Za-z0-9-]*' | sed 's/^[^-]*//'
  printf '%s\n' "$1" |
    grep -oE '(^|[][ ,(])-[A-Za-z0-9]([^A-Za-z0-9-]|$)' | sed -E 's/.*(-[A-Za-z0-9]).*/\1/'
}

# An extended regular expression for WORD as roff writes it ("-" as "\-"), not followed by more
# of a name: a letter, a digit, "_" or an escaped hyphen ("\-") would continue it.
roff_regex() {
  printf '%s' "$1" | sed 's/-/\\\\-/g'
  printf '%s' '([^A-Za-z0-9_\\]|\\[^-]|$)'
}

# check_options PAGE WHAT OPTIONS...: every option must appear in PAGE.
check_options() {
  page=$1
  what=$2
  shift 2
  missing=""
  count=0
  for option in "$@"; do
    count=$((count + 1))
    grep -qE -- "$(roff_regex "$option")" "$packaging/man/$page" || missing="$missing $option"
  done
  if [ -n "$missing" ]; then
    fail "$page does not document these options of $what:$missing"
  else
    echo "ok: $page documents the $count options of $what"
  fi
}

# 2. fetchd.8 against `fetchd --help` (which includes the usage of `fetchd once`).
if ! fetchd_help=$("$fetchd" --help 2>&1); then
  fail "$fetchd --help failed:"
  printf '%s\n' "$fetchd_help"
else
  # shellcheck disable=SC2046  # one word per option
  set -- $(options_in "$fetchd_help" | sort -u)
  if [ "$#" -lt 10 ]; then
    fail "found only $# options in fetchd --help (has its format changed?): $*"
  fi
  check_options fetchd.8 "fetchd --help" "$@"
fi

# 3. fetchctl.1 against `fetchctl --help` and each `fetchctl COMMAND --help`.
if ! fetchctl_help=$("$fetchctl" --help 2>&1); then
  fail "$fetchctl --help failed:"
  printf '%s\n' "$fetchctl_help"
else
  # The commands: the lines indented by exactly two spaces under "Commands:" (descriptions that
  # do not fit are continued on lines indented further).
  commands=$(printf '%s\n' "$fetchctl_help" | sed -n '/^Commands:/,/^$/p' |
             sed -nE 's/^  ([a-z][a-z0-9-]*).*/\1/p')
  # shellcheck disable=SC2086  # one word per command
  set -- $commands
  if [ "$#" -lt 8 ]; then
    fail "found only $# commands in fetchctl --help (has its format changed?): $*"
  fi
  section=$(sed -n '/^\.SH COMMANDS/,/^\.SH /p' "$packaging/man/fetchctl.1")
  missing=""
  for command in $commands; do
    printf '%s\n' "$section" | grep -qE -- "^\.B $(roff_regex "$command")" ||
      missing="$missing $command"
  done
  if [ -n "$missing" ]; then
    fail "fetchctl.1 has no entry under COMMANDS for:$missing"
  else
    echo "ok: fetchctl.1 describes the $# commands: $(printf '%s\n' "$commands" | paste -sd' ' -)"
  fi

  all_help=$fetchctl_help
  for command in $commands; do
    if ! command_help=$("$fetchctl" "$command" --help 2>&1); then
      fail "$fetchctl $command --help failed:"
      printf '%s\n' "$command_help"
      continue
    fi
    all_help="$all_help
$command_help"
  done
  add_options=$(options_in "$("$fetchctl" add --help 2>&1)" | sort -u | wc -l)
  if [ "$add_options" -lt 8 ]; then
    fail "found only $add_options options in fetchctl add --help (has its format changed?)"
  fi
  # shellcheck disable=SC2046  # one word per option
  set -- $(options_in "$all_help" | sort -u)
  check_options fetchctl.1 "fetchctl --help and fetchctl COMMAND --help" "$@"
fi

exit "$failed"
