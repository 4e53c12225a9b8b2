#!/usr/bin/env bash
# Checks deploy/systemd/*.service with systemd-analyze:
#   verify    the units parse, every key is known, ExecStart is runnable
#             (checked on temp copies whose ExecStart points at the built
#             lotlined, since nothing is installed in /usr/local here);
#   security  the offline exposure score stays low (hardening in place);
# and that each unit keeps what docs/operations.md promises (user, state
# directory, config path, restart policy, stop timeout).
# Exit 77 (skipped) when systemd-analyze is missing or cannot run here.
set -euo pipefail
src="${LOTLINE_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}"
bin="${LOTLINE_BIN:-$src/build/bin}"
units=(lotlined-command lotlined-project)
max_exposure=2.5

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze is not installed: skipped"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Can systemd-analyze verify anything in this environment?
printf '[Service]\nExecStart=/bin/true\n' >"$tmp/probe.service"
if ! systemd-analyze verify "$tmp/probe.service" >"$tmp/probe.log" 2>&1; then
  echo "systemd-analyze verify does not work here: skipped"
  cat "$tmp/probe.log"
  exit 77
fi

failed=0
for u in "${units[@]}"; do
  f="$src/deploy/systemd/$u.service"
  mode=${u#lotlined-}
  for want in "User=lotline" "StateDirectory=lotline" "Restart=on-failure" \
    "TimeoutStopSec=" "NoNewPrivileges=yes" "ProtectSystem=strict" \
    "ExecStart=/usr/local/bin/lotlined $mode --config /etc/lotline/lotline.conf"; do
    if ! grep -q "^$want" "$f"; then
      echo "$u: missing '$want'"
      failed=1
    fi
  done
  sed "s#/usr/local/bin/lotlined#$bin/lotlined#" "$f" >"$tmp/$u.service"
  if ! systemd-analyze verify "$tmp/$u.service" >"$tmp/$u.log" 2>&1 ||
    [ -s "$tmp/$u.log" ]; then
    echo "$u: systemd-analyze verify:"
    cat "$tmp/$u.log"
    failed=1
  else
    echo "$u: verify clean"
  fi
  score=$(systemd-analyze security --offline=yes "$tmp/$u.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  if [ -z "$score" ]; then
    echo "$u: no exposure score from systemd-analyze security"
    failed=1
  elif awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s > m) }'; then
    echo "$u: exposure $score is above $max_exposure"
    failed=1
  else
    echo "$u: exposure $score (at most $max_exposure)"
  fi
done
exit "$failed"
