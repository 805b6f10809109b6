#!/bin/sh
# Runs clang-tidy (.clang-tidy at the root) over the daemon's sources; any finding fails the run.
#   scripts/clang-tidy.sh                      every daemon source (make test)
#   TIDY_DIRS=daemon/http scripts/clang-tidy.sh   the sources of some folders
#   scripts/clang-tidy.sh daemon/http/url.cpp  just these files
# TIDY_JOBS (default 2) clang-tidy processes run at once.
set -eu
cd "$(dirname "$0")/.."

TIDY_DIRS=${TIDY_DIRS:-daemon}
TIDY_JOBS=${TIDY_JOBS:-2}
TIDY=${CLANG_TIDY:-clang-tidy-16}
BUILD=build/tidy

# A compile database of its own: the release and ASan ones include g++'s precompiled header
# (-include cmake_pch.hxx, a .gch clang cannot read). Configure only, nothing is built here; the
# generated version.h is written by the configure step itself. Configured every time (a second or
# two) so that new sources, found by glob, are in the database.
#
# The whole of daemon/ (make test) is checked as the unity build compiles it: the sources eight to
# a file (CMakeFiles/*/Unity/unity_N_cxx.cxx, written by the configure step), so each header is
# parsed an eighth as often; findings still name the source file and line. Some folders, or named
# files, are checked one source at a time, from a database without unity files.
# Including .cpp files is what a unity file is for: bugprone-suspicious-include is off there.
whole=no
extra_checks=
if [ $# -eq 0 ] && [ "$TIDY_DIRS" = daemon ]; then
  whole=yes
  BUILD=build/tidy-unity
  extra_checks=-bugprone-suspicious-include
fi
mkdir -p build
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_DISABLE_PRECOMPILE_HEADERS=ON \
  -DFETCHD_TESTS=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_UNITY_BUILD=$whole \
  -DCMAKE_UNITY_BUILD_BATCH_SIZE=8 >"$BUILD.configure.log" 2>&1 ||
  { cat "$BUILD.configure.log"; exit 1; }

if [ $# -gt 0 ]; then
  files="$*"
elif [ $whole = yes ]; then
  # The executables' and the core's units (not the benchmarks'); main.cpp and fetchctl's sources.
  files=$(find "$BUILD/CMakeFiles/fetchd_core.dir/Unity" "$BUILD/CMakeFiles/fetchd.dir/Unity" \
    "$BUILD/CMakeFiles/fetchctl.dir/Unity" -name 'unity_*_cxx.cxx' | sort | tr '\n' ' ')
else
  files=""
  for dir in $TIDY_DIRS; do
    files="$files $(git ls-files "$dir/*.cpp" | tr '\n' ' ')"
  done
fi
# Findings in a header count where its folder is checked, so an unchecked folder's header does not
# fail a checked folder's source.
header_filter="^$(pwd)/($(echo "$TIDY_DIRS" | tr -s ' ' '|'))/"

# Asio 1.22 enables co_await only for compilers it knows (g++ >= 10); clang has to be told that
# <coroutine> is there, or asio::awaitable does not exist. The warning-as-error on every check
# turns any finding into a failed run; clang-tidy's own "N warnings generated" noise (from
# system headers, filtered out) is dropped so that the output is the findings only.
echo "clang-tidy: $(echo "$files" | wc -w) files ($TIDY_DIRS), $TIDY_JOBS jobs"
# shellcheck disable=SC2086,SC2016  # one word per file (git paths here have no blanks); the inner
# script expands its own arguments
printf '%s\n' $files | xargs -P "$TIDY_JOBS" -I{} sh -c '
  out=$("$0" -p "$1" --quiet --warnings-as-errors="*" --header-filter="$2" --checks="$4" \
        --extra-arg=-DASIO_HAS_CO_AWAIT --extra-arg=-DASIO_HAS_STD_COROUTINE \
        --extra-arg=-Wno-unknown-warning-option "$3" 2>&1)
  rc=$?
  printf "%s\n" "$out" | grep -Ev "^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$" || true
  exit $rc' "$TIDY" "$BUILD" "$header_filter" {} "$extra_checks" ||
  { echo "clang-tidy: findings above (TIDY_DIRS=\"$TIDY_DIRS\")"; exit 1; }
echo "clang-tidy ok"
