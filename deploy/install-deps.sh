#!/usr/bin/env bash
# Installs exactly what lotline needs to build, test and run: the Debian
# packages, then the npm package of the console's browser test
# (puppeteer-core, pinned by tests/ui/package-lock.json) into
# build/ui-test-deps/. Safe to run twice, and quick when all is there:
# apt-get runs only when a package is missing, npm only when the lock file
# changed. Needs root (or sudo) for apt-get.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake pkg-config clang-format clang libclang-rt-14-dev
  librdkafka-dev librocksdb-dev libavro-dev libcmocka-dev
  libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libjemalloc-dev
  curl kcat wrk python3-confluent-kafka python3-avro
  shellcheck python3-yaml python3-jsonschema docker-compose systemd
  openssl chromium
)
# Node.js (>= 18) and npm for tests/ui: Debian's packages, unless a node
# and an npm are already there (NodeSource's nodejs bundles npm and
# conflicts with Debian's npm package).
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

bash "$root/tests/ui/install-npm.sh" "$root/build/ui-test-deps"
echo "install-deps: puppeteer-core in build/ui-test-deps"
