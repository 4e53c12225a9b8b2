#!/usr/bin/env bash
# Runs shellcheck on every shell script of the project: *.sh files and files
# whose first line names sh or bash, under deploy/, tests/ and .ci/.
# Exit 77 (skipped) when shellcheck is not installed.
set -euo pipefail
src="${LOTLINE_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$src"

if ! command -v shellcheck >/dev/null 2>&1; then
  echo "shellcheck is not installed (bash deploy/install-deps.sh): skipped"
  exit 77
fi

scripts=()
while IFS= read -r -d '' f; do
  case "$f" in
    *.sh) scripts+=("$f") ;;
    *) if head -n1 "$f" | grep -Eq '^#!.*\b(ba)?sh\b'; then scripts+=("$f"); fi ;;
  esac
done < <(find deploy tests .ci -type f ! -path '*/__pycache__/*' -print0 | sort -z)

if [ "${#scripts[@]}" -eq 0 ]; then
  echo "no shell scripts found under $src: wrong directory?" >&2
  exit 1
fi
echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p') on ${#scripts[@]} script(s):"
printf '  %s\n' "${scripts[@]}"
shellcheck --external-sources "${scripts[@]}"
echo "shellcheck: clean"
