#!/usr/bin/env bash
# Validates the fake Rivet Engine (tests/engine/fake_engine) against the official TypeScript
# runner @rivetkit/engine-runner@2.0.33: installs the npm packages once per lock file, then runs
# `node --test` on fake_engine/test/. Needs node (20+) and npm.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/../../scripts/npm-install.sh" "$here/fake_engine"
cd "$here/fake_engine"
exec node --test --test-reporter=spec --test-timeout=60000 test/
