#!/usr/bin/env bash
# Cross-checks our runner protocol v5 codec against the official npm codec:
#   run.sh <path to rivetkit_runner_protocol_samples>
# Installs @rivetkit/engine-runner-protocol@2.0.33 (package-lock.json) on first use; needs node
# and npm.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
samples="$1"

bash "$here/../../../scripts/npm-install.sh" "$here"

# pipefail: a crash of the samples program fails the test even if check.mjs accepted what it
# printed (check.mjs also requires every union member to appear).
"$samples" | node "$here/check.mjs"
