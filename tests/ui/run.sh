#!/usr/bin/env bash
# The web console's browser test, as ctest runs it:
#   bash tests/ui/run.sh DEPS_DIR
# Checks the prerequisites (node >= 18, Chromium, npm), installs
# puppeteer-core at the version package-lock.json pins into DEPS_DIR (a
# cache in the build tree; skipped when it is already there, so a second
# run costs nothing), then runs test_console.mjs against a real
# `lotlined all`. A missing prerequisite skips the test (exit 77), or
# fails it under LOTLINE_TEST_REQUIRE_PREREQS=1 (tests/run.sh, CI).
# deploy/install-deps.sh installs all of it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
deps=${1:?usage: run.sh DEPS_DIR}
chromium=${LOTLINE_CHROMIUM:-/usr/bin/chromium}

missing() {
  echo "test_ui_console: missing prerequisite: $1 (bash deploy/install-deps.sh installs it)" >&2
  if [ "${LOTLINE_TEST_REQUIRE_PREREQS:-0}" = 1 ]; then exit 1; fi
  exit 77
}

command -v node >/dev/null || missing "node (Debian package nodejs)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || missing "node >= 18 for puppeteer-core 24 (found $(node --version))"
[ -x "$chromium" ] || missing "Chromium at $chromium (Debian package chromium)"

bash "$here/install-npm.sh" "$deps" || missing "puppeteer-core in $deps (npm ci failed; see above)"

export LOTLINE_UI_DEPS="$deps"
export LOTLINE_CHROMIUM="$chromium"
exec node "$here/test_console.mjs"
