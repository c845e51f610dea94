#!/usr/bin/env bash
# Our C++ client against the TypeScript reference server (npm rivetkit@2.0.33 running
# reference_server/server.mjs, which hosts the same actors as our client tests):
#   client_vs_reference.sh <rivetkit_unit_client> <client_cli>
# 1. The whole remote client test suite (tests/unit/client), each test case against a fresh
#    reference server process (RIVETKIT_CLIENT_TEST_REFERENCE).
# 2. The client_cli example's self-test against the reference server.
# Installs the npm packages on first use; needs node and npm.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tests="$(realpath "$1")"
cli="$(realpath "$2")"
bash "$here/../../scripts/npm-install.sh" "$here"

echo "== the client test suite against the reference server"
RIVETKIT_CLIENT_TEST_REFERENCE="$here/reference_server/server.mjs" "$tests"

echo "== client_cli against the reference server"
bash "$here/../../examples/client_cli/self_test.sh" "$cli" node "$here/reference_server/server.mjs"
