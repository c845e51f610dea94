#!/usr/bin/env bash
# Installs the reference benchmark server's npm packages (package-lock.json) once per lock file;
# the stamp records which one. Two benchmark runs may start at once, so the install holds a lock.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "bench/reference: node and npm are required" >&2
  exit 1
fi
stamp="$here/node_modules/.rivetkit-lock.sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
(
  flock 9
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    # (not `npm ci`: npm 11 rejects a lock over unused platform-specific optional packages)
    (cd "$here" && npm install --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
) 9>"$here/.npm-install.lock"
