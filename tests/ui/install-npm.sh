#!/usr/bin/env bash
# Installs the browser test's npm packages (tests/ui/package-lock.json:
# puppeteer-core, which downloads no browser) into DIR/node_modules:
#   bash tests/ui/install-npm.sh DIR
# Does nothing when DIR already holds exactly this lock file's packages.
# puppeteer-core stays on 24.x: it needs node >= 18 (bookworm's nodejs is
# 18.19); 25.x needs node >= 22.12.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: install-npm.sh DIR}
if cmp -s "$here/package-lock.json" "$dir/package-lock.json" &&
  [ -f "$dir/node_modules/puppeteer-core/package.json" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "install-npm: npm is not installed" >&2; exit 1; }
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
# The system's Chromium is used: nothing to download.
export PUPPETEER_SKIP_DOWNLOAD=1
(cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
