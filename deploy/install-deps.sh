#!/usr/bin/env bash
# Installs exactly the Debian packages lotline needs to build, test and run.
# Safe to run twice: apt-get install is idempotent. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format clang libclang-rt-14-dev
  librdkafka-dev librocksdb-dev libavro-dev libcmocka-dev
  libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libjemalloc-dev
  curl kcat wrk python3-confluent-kafka python3-avro
  shellcheck python3-yaml python3-jsonschema docker-compose systemd
  openssl
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
