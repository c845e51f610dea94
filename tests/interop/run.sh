#!/usr/bin/env bash
# Runs the interop tests: the official RivetKit JavaScript clients (npm rivetkit@2.0.33 and
# rivetkit@2.3.19) against our interop server, plus a browser-style CORS preflight with curl.
#   run.sh <path to rivetkit_interop_server>
# Installs the npm packages (package-lock.json) on first use; needs node, npm and curl.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
server="$1"

bash "$here/../../scripts/npm-install.sh" "$here"

cd "$here"
INTEROP_SERVER="$server" node --test --test-reporter=spec interop.test.mjs
