#!/usr/bin/env bash
# Installs the npm packages of one directory (its package-lock.json) once per lock file:
#   scripts/npm-install.sh <dir>
# A stamp in <dir>/node_modules records the lock's hash; tests that share a directory may start
# at once, so the install holds a lock (<dir>/.npm-install.lock). Used by tests/interop, tests/engine/fake_engine,
# tests/conformance and bench/reference.
set -euo pipefail
dir="$(cd "$1" && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "npm-install: node and npm are required (apt-get install nodejs npm)" >&2
  exit 1
fi
stamp="$dir/node_modules/.rivetkit-lock.sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
(
  flock 9
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    # (not `npm ci`: npm 11 rejects these locks over unused platform-specific optional packages)
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
) 9>"$dir/.npm-install.lock"
