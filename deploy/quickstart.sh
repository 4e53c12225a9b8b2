#!/usr/bin/env bash
# The README's first command: install, build, start `lotlined all` on the
# embedded broker with a fresh demo data directory, load the sample data and
# show where to look. The service keeps running in the background.
set -euo pipefail
cd "$(dirname "$0")/.."

data=${LOTLINE_DEMO_DATA:-./lotline-data}
http=${LOTLINE_DEMO_HTTP:-127.0.0.1:8080}
api="http://$http"

bash deploy/install-deps.sh
echo "== build =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "built build/bin/lotlined and build/bin/lotline"

# A previous demo still running? Stop it: the embedded broker lives in its
# memory, so each demo starts from a fresh data directory.
if [ -f "$data/lotlined.pid" ] && kill -0 "$(cat "$data/lotlined.pid")" 2>/dev/null; then
  echo "stopping the previous demo (pid $(cat "$data/lotlined.pid"))"
  kill "$(cat "$data/lotlined.pid")"
  for _ in $(seq 50); do kill -0 "$(cat "$data/lotlined.pid")" 2>/dev/null || break; sleep 0.1; done
fi
rm -rf "$data"
mkdir -p "$data"

echo "== start =="
nohup build/bin/lotlined all --data "$data" --http "$http" >"$data/lotlined.log" 2>&1 &
echo $! >"$data/lotlined.pid"
for _ in $(seq 100); do
  curl -fsS "$api/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$(cat "$data/lotlined.pid")" 2>/dev/null; then
    echo "lotlined did not start; its log:" >&2; cat "$data/lotlined.log" >&2; exit 1
  fi
  sleep 0.1
done
curl -fsS "$api/healthz" >/dev/null || { echo "lotlined is not answering on $api" >&2; exit 1; }
echo "lotlined all is running (pid $(cat "$data/lotlined.pid")), API $api, broker $(cat "$data/broker.addr")"

bash deploy/sample-data.sh --api "$api"

echo
echo "== the Locations view of PAINT-RED / LOT-2026-001 =="
build/bin/lotline --api "$api" locations paint-red-001
cat <<TXT

Look around:
  build/bin/lotline --api $api show paint-red-001
  build/bin/lotline --api $api locations paint-red-001 --all
  build/bin/lotline --api $api lots --product DRILL-X
  curl -s $api/v1/lots/paint-red-001/locations
  curl -s '$api/v1/rejections?limit=5'
  kcat -b $(cat "$data/broker.addr") -t lots.rejected -C -e -q | head -c 400
Log: $data/lotlined.log.  Stop: kill \$(cat $data/lotlined.pid)
TXT
echo
echo "Web console, the sample lot's Locations tab (docs/console.md):"
echo "  $api/ui/lots/paint-red-001/locations"
