#!/usr/bin/env bash
# Runs the official RivetKit driver test suite (npm rivetkit@2.0.33, rivetkit/driver-test-suite)
# against our conformance server, for one driver:
#   run.sh <path to rivetkit_conformance_server> <file-system|memory|engine> [vitest args...]
# Installs the npm packages (package-lock.json) on first use; needs node and npm. Ends with
# "conformance (<driver>): N passed, N failed, N skipped" (the suite's own skips).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
server="$(realpath "$1")"
driver="$2"
shift 2
case "$driver" in
  file-system | memory | engine) ;;
  *) echo "conformance: driver must be file-system, memory or engine, not '$driver'" >&2; exit 2 ;;
esac

# Installs the npm packages once per lock file (two drivers may run at once: it locks).
bash "$here/../../scripts/npm-install.sh" "$here"
# The engine run hosts a fake engine (its own packages) in the test process.
[[ "$driver" != engine ]] || bash "$here/../../scripts/npm-install.sh" "$here/../engine/fake_engine"

# Cases left out, per driver (README.md, "What runs, and what is skipped", says why); vitest
# reports them as skipped.
# A name filter of the caller's (-t) replaces this one: vitest takes a single pattern.
exclude=()
user_filter=false
for arg in "$@"; do
  case "$arg" in -t | -t* | --testNamePattern*) user_filter=true ;; esac
done
if [[ "$driver" == engine && "$user_filter" == false ]]; then
  exclude=(-t '^(?!.*Actor Sleep Tests actor sleep persists state with connect$)')
  echo "conformance (engine): leaving out 'Actor Sleep Tests > actor sleep persists state with connect' (a timing race with hibernation; README.md)"
fi

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
cd "$here"
status=0
CONFORMANCE_SERVER="$server" npx --no-install vitest run "$driver.test.mjs" \
  --reporter=default --reporter=json --outputFile.json="$results/results.json" "${exclude[@]}" "$@" || status=$?

if [[ -f "$results/results.json" ]]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`conformance (${process.argv[2]}): ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$results/results.json" "$driver"
else
  echo "conformance ($driver): no results (vitest exited $status)"
  [[ $status -ne 0 ]] || status=1
fi
exit $status
