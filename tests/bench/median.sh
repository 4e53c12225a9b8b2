#!/usr/bin/env bash
# median.sh — run lotline_bench several times and print the median of each
# figure (the performance targets are medians of 3 runs).
#
#   tests/bench/median.sh [--runs N] [--build DIR] [lotline_bench options]
#
# Builds nothing: run it after a Release build (docs/performance.md). Each
# run's JSON and output land in bench-results/<timestamp>/.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
runs=3
build="$here/build-rel"
while [ $# -gt 0 ]; do
  case "$1" in
  --runs) runs=$2; shift 2 ;;
  --build) build=$2; shift 2 ;;
  -h | --help) sed -n 2,9p "$0"; exit 0 ;;
  *) break ;;
  esac
done
bench="$build/bin/lotline_bench"
[ -x "$bench" ] || { echo "median.sh: no $bench (build it first)" >&2; exit 2; }
out="$here/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
for i in $(seq 1 "$runs"); do
  echo "== run $i of $runs (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  LOTLINE_SCHEMAS="$here/schemas" LOTLINE_BIN="$build/bin" \
    "$bench" "$@" --out "$out/run-$i.json" | tee "$out/run-$i.txt"
done
/usr/bin/python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
docs = [json.load(open(f"{out}/run-{i}.json")) for i in range(1, runs + 1)]
keys = [k for k, v in docs[0].items() if isinstance(v, (int, float))]
print(f"\nmedian of {runs} runs ({out}):")
print(f"{'figure':34} {'median':>14}  runs")
for k in keys:
    vals = [d[k] for d in docs]
    print(f"{k:34} {statistics.median(vals):14.3f}  " +
          " ".join(f"{v:.3f}" for v in vals))
json.dump({k: statistics.median([d[k] for d in docs]) for k in keys},
          open(f"{out}/median.json", "w"), indent=1)
print(f"\nmedians written to {out}/median.json")
PY
