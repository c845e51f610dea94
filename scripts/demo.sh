#!/usr/bin/env bash
# THE demo command. Installs missing Debian packages (scripts/install-deps.sh), builds the
# `counter` and `client_cli` examples (Release, build/demo), serves the counter on the default
# file-system driver and runs a short client session against it: curl, our C++ client
# (client_cli), then the official RivetKit JavaScript client (npm rivetkit@2.0.33) when
# Node.js is present. The server is stopped at the end; its data
# stays, so running the demo again continues the count.
#   PORT=N            the port to serve on (default 6420)
#   RIVETKIT_JOBS=N   build parallelism (default: all cores)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${RIVETKIT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
dir=build/demo
port="${PORT:-6420}"

bash scripts/install-deps.sh

# The top-level CMakeLists.txt records where the `counter` target's program is built.
path_file="$dir/rivetkit-example-counter-Release.path"
cli_path_file="$dir/rivetkit-example-client_cli-Release.path"
rm -f "$path_file" "$cli_path_file"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DRIVETKIT_BUILD_EXAMPLES=ON -DRIVETKIT_BUILD_TESTS=OFF
cmake --build "$dir" --target counter client_cli --parallel "$jobs"
program=$(<"$path_file")
cli=$(<"$cli_path_file")

say() { printf '\n==> %s\n' "$*"; }

say "starting the counter server: PORT=$port $program"
PORT="$port" "$program" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "demo: the server exited" >&2; exit 1; }
  sleep 0.1
done

base="http://127.0.0.1:$port"
say "curl: get or create the actor counter[\"demo\"] (manager API)"
resp=$(curl -sS -X PUT "$base/actors" -H 'content-type: application/json' \
  -d '{"name":"counter","key":"demo","runner_name_selector":"default","crash_policy":"sleep"}')
echo "$resp"
id=$(sed -E 's/.*"actor_id":"([0-9a-f]+)".*/\1/' <<<"$resp")

say "curl: POST /gateway/$id/action/increment  {\"args\":[1]}"
curl -sS -X POST "$base/gateway/$id/action/increment" -H 'x-rivet-encoding: json' -d '{"args":[1]}'
echo
say "curl: an unknown action answers a structured error"
curl -sS -X POST "$base/gateway/$id/action/nope" -H 'x-rivet-encoding: json' -d '{"args":[]}'
echo

say "the C++ client (examples/client_cli): call, then a connection that prints an event"
"$cli" --endpoint "$base" call counter demo increment 10
"$cli" --endpoint "$base" --encoding cbor connect counter demo --on newCount --count 1 --timeout 10 \
  --call increment 1
"$cli" --endpoint "$base" call counter demo nope || true

if command -v node >/dev/null && command -v npm >/dev/null; then
  say "the official JavaScript client (rivetkit@2.0.33)"
  js=examples/counter/js
  if [[ ! -d "$js/node_modules/rivetkit" ]]; then
    (cd "$js" && npm install --no-audit --no-fund --loglevel=error)
  fi
  node "$js/client.mjs" "$base"
else
  say "Node.js not found: skipping the JavaScript client (install nodejs to see it)"
fi

say "stopping the server (SIGTERM): state is saved"
kill -TERM "$server"
wait "$server"
trap - EXIT
echo "Run the demo again: the count continues from where it stopped."
