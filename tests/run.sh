#!/usr/bin/env bash
# Build lotline and run the whole test suite (the README's second command;
# .ci/run calls exactly this). Installs the Debian packages it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (build/) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

echo "== tests =="
# Long runs (label long, e.g. test_crash_long) are left out; run them with
# ctest --test-dir build -L long.
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600 -LE long
