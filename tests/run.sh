#!/usr/bin/env bash
# Build lotline and run the whole test suite (the README's second command;
# .ci/run calls exactly this). Installs the Debian packages it needs first.
#
# Stages, each timed (a summary is printed at the end):
#   build  RelWithDebInfo build with gcc in build/
#   tests  the test suite in build/ (without the `long` label)
#   asan   the whole project again with ASan + UBSan in build-asan/, and the
#          same suite there; integration tests spawn build-asan's daemons,
#          so they run sanitized too; any report fails the run (the
#          `deploy` checks of files are not rerun there)
#   fuzz   the libFuzzer target (clang) in build-fuzz/, 30 s on a copy of
#          tests/fuzz/corpus; a crash fails the run
# LOTLINE_STAGES="build tests" runs a subset (default: all four).
#
# Here every test runs: a prerequisite a test would skip without (root for
# test_disk_full's tmpfs, the openssl command for the HTTPS cases) is
# required, and its absence fails the test naming what is missing
# (tests/support/prereq.h). LOTLINE_TEST_REQUIRE_PREREQS=0 lets them skip instead, for a
# local run without root; never in CI (CI set).
set -euo pipefail
cd "$(dirname "$0")/.."

export LOTLINE_TEST_REQUIRE_PREREQS=${LOTLINE_TEST_REQUIRE_PREREQS:-1}
if [ -n "${CI:-}" ]; then LOTLINE_TEST_REQUIRE_PREREQS=1; fi

stages=${LOTLINE_STAGES:-build tests asan fuzz}
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${LOTLINE_FUZZ_SECONDS:-30}
timings=()

want() { [[ " $stages " == *" $1 "* ]]; }

run_stage() {
  local name=$1
  shift
  echo "== $name =="
  local t0=$SECONDS
  "$@"
  local took=$((SECONDS - t0))
  timings+=("$(printf '%-6s %4d s' "$name" "$took")")
  echo "== $name: ${took} s =="
}

stage_build() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$jobs"
}

stage_tests() {
  ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600 -LE 'long'
}

stage_asan() {
  # -O1: ASan's usual speed/precision trade; Debug keeps the asserts.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLOTLINE_SANITIZE=ON \
    -DCMAKE_C_FLAGS=-O1 -DCMAKE_CXX_FLAGS=-O1 >/dev/null
  cmake --build build-asan -j"$jobs"
  # Reports end the process with an error (the test fails), leaks included;
  # tests/lsan.supp names leaks inside third-party libraries.
  ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1" \
    LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 600 \
    -LE 'long|style|deploy'
}

stage_fuzz() {
  cmake -S . -B build-fuzz -DLOTLINE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >/dev/null
  cmake --build build-fuzz -j"$jobs" --target fuzz_decode_validate
  local corpus
  corpus=$(mktemp -d "${TMPDIR:-/tmp}/lotline-fuzz-XXXXXX")
  cp tests/fuzz/corpus/* "$corpus"/
  local rc=0
  # Progress lines (#N NEW ...) and the recommended dictionary dropped;
  # reports and final stats kept.
  build-fuzz/bin/fuzz_decode_validate -dict=tests/fuzz/fuzz.dict \
    -max_total_time="$fuzz_seconds" -print_final_stats=1 \
    -artifact_prefix="$corpus/" "$corpus" 2>&1 |
    sed -E '/^#[0-9]+/d; /^\tNEW_FUNC/d; /^###### Recommended/,/^###### End of recommended/d' ||
    rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: the target failed (exit $rc); the input is kept in $corpus" >&2
    for f in "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-* "$corpus"/oom-*; do
      [ -e "$f" ] && echo "  $f" >&2
    done
    return 1
  fi
  rm -rf "$corpus"
}

print_timings() {
  echo "== timings =="
  if [ "${#timings[@]}" -gt 0 ]; then printf '%s\n' "${timings[@]}"; fi
  echo "total  $(printf '%4d' "$SECONDS") s"
}
trap print_timings EXIT

bash deploy/install-deps.sh
for s in build tests asan fuzz; do
  if want "$s"; then run_stage "$s" "stage_$s"; fi
done
