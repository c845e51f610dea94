#!/usr/bin/env bash
# Runs the interop tests: the official RivetKit JavaScript clients (npm rivetkit@2.0.33 and
# rivetkit@2.3.19) against our interop server, plus a browser-style CORS preflight with curl.
#   run.sh <path to rivetkit_interop_server>
# Installs the npm packages (package-lock.json) on first use; needs node, npm and curl.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
server="$1"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "interop: node and npm are required" >&2
  exit 1
fi

# Install once per lock file (the stamp records which one).
stamp="$here/node_modules/.rivetkit-lock.sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  # (not `npm ci`: npm 11 rejects this lock over unused platform-specific optional packages)
  (cd "$here" && npm install --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

cd "$here"
INTEROP_SERVER="$server" node --test --test-reporter=spec interop.test.mjs
