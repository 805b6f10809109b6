#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz/, clang-16, ASan + UBSan) and runs each for FUZZ_SECONDS
# (default 60) on its checked-in corpus and dictionary; any crash, leak, timeout (5 s per input) or
# RSS over 1 GiB fails the run and leaves the input in build/fuzz/artifacts/.
#   scripts/fuzz.sh                  every target      FUZZ_SECONDS=600 scripts/fuzz.sh url
# New inputs the run finds go to build/fuzz/corpus/<target>/ (not checked in; copy the useful ones
# to tests/fuzz/corpus/<target>/). Prints each target's executions and coverage.
set -eu
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
BUILD=build/fuzz
targets=${*:-response_parser url config control_codec request_parser ctl_render results_store body_template}

if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang-16 CXX=clang++-16 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DFETCHD_WERROR=ON -DFETCHD_FUZZ=ON -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8 \
    >"$BUILD.configure.log" 2>&1 ||
    { cat "$BUILD.configure.log"; exit 1; }
fi
# shellcheck disable=SC2046  # one word per target
ninja -C "$BUILD" -j"${JOBS:-2}" $(for t in $targets; do printf '%s_fuzz ' "$t"; done)

mkdir -p "$BUILD/artifacts"
for target in $targets; do
  mkdir -p "$BUILD/corpus/$target"
  dict=""
  [ -f "tests/fuzz/$target.dict" ] && dict="-dict=tests/fuzz/$target.dict"
  log="$BUILD/$target.log"
  # shellcheck disable=SC2086  # $dict is one option or nothing
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$BUILD/tests/fuzz/${target}_fuzz" -max_total_time="$FUZZ_SECONDS" -timeout=5 -rss_limit_mb=1024 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$target-" $dict \
      "$BUILD/corpus/$target" "tests/fuzz/corpus/$target" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $target failed; the input is in $BUILD/artifacts/ (rerun: $BUILD/tests/fuzz/${target}_fuzz FILE)"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
  corpus=$(find "$BUILD/corpus/$target" "tests/fuzz/corpus/$target" -type f | wc -l)
  echo "fuzz: $target ok: $runs executions in ${FUZZ_SECONDS}s, $cov, corpus $corpus inputs"
done
