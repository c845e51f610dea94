#!/usr/bin/env bash
# The engine_runner example end to end against the fake Rivet Engine (tests/engine/fake_engine):
# the runner hosts `counter` actors, client_cli reaches them through the engine (REST PUT /actors,
# then the gateway), SIGTERM drains the runner (the actor sleeps, its state stays in the engine's
# KV), a second runner process picks the actor up with its state, and the same program in
# serverless mode runs it on a runner the engine starts through GET /start.
#   self_test.sh <engine_runner> <client_cli> <fake engine directory>
set -euo pipefail
runner_bin="$1"
cli="$2"
fake_dir="$3"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "engine_runner self-test: $*" >&2
  for f in "$work"/*.log; do echo "--- $f" >&2; cat "$f" >&2; done
  exit 1
}

bash "$(dirname "$0")/../../scripts/npm-install.sh" "$fake_dir" 1>&2

# Waits (≤ 30 s) for a line matching $2 in the output stream $1 (a FIFO read on fd $3).
mkfifo "$work/fake.out"
PORT=0 node "$fake_dir/fake_engine.mjs" >"$work/fake.out" 2>"$work/fake.log" &
pids+=($!)
exec 3<"$work/fake.out"
port=""
while IFS= read -r -t 30 line <&3; do
  if [[ "$line" =~ listening\ on\ ([0-9]+) ]]; then
    port="${BASH_REMATCH[1]}"
    break
  fi
done
[[ -n "$port" ]] || fail "the fake engine did not start"
engine="http://127.0.0.1:$port"

start_runner() {  # start_runner <name>: starts engine_runner, waits for its "runner started"
  mkfifo "$work/$1.out"
  RIVET_ENGINE="$engine" RIVET_RUNNER_KEY="$1" "$runner_bin" >"$work/$1.out" 2>"$work/$1.log" &
  runner=$!
  pids+=("$runner")
  exec 4<"$work/$1.out"
  IFS= read -r -t 30 line <&4 || fail "$1 did not start"
  [[ "$line" == "runner started" ]] || fail "$1 printed '$line'"
  # The runner is connected once the engine lists it.
  curl -sf -X POST "$engine/__fake/wait/runner" -H 'content-type: application/json' \
    -d "{\"key\":\"$1\",\"connected\":true,\"timeoutMs\":10000}" >/dev/null || fail "$1 did not connect"
}

# stop_and_check <pid> <fd> <last line>: SIGTERM, exit 0, the line printed after the drain, and
# the actor asleep with its state in the engine.
stop_and_check() {
  kill -TERM "$1"
  wait "$1" || fail "process $1 exited with status $?"
  IFS= read -r -t 30 line <&"$2" || fail "no output from process $1 after SIGTERM"
  [[ "$line" == "$3" ]] || fail "after SIGTERM process $1 printed '$line'"
  local state
  state=$(curl -sf "$engine/__fake/actors?name=counter")
  [[ "$state" == *'"state":"sleeping"'* ]] || fail "the actor is not asleep after the drain: $state"
}

expect() {  # expect <wanted output> <command...>
  local want="$1"
  shift
  local got
  got=$("$@") || fail "exit status $? from: $*"
  [[ "$got" == "$want" ]] || fail "$*: expected '$want', got '$got'"
  echo "ok: $* -> $got"
}

start_runner first
expect 5 "$cli" --endpoint "$engine" call counter k increment 5
expect 7 "$cli" --endpoint "$engine" call counter k increment 2

# SIGTERM: the runner drains (the engine stops the actor: it sleeps) and exits 0.
stop_and_check "$runner" 4 "runner stopped"
echo "ok: drained, the actor sleeps"

# Another runner process wakes it with the state kept in the engine.
start_runner second
expect 7 "$cli" --endpoint "$engine" call counter k getCount
stop_and_check "$runner" 4 "runner stopped"

# Serverless: the program serves /api/rivet/start; the engine's pool starts a runner through it
# when the sleeping actor is called, and the actor wakes there with its state.
mkfifo "$work/serverless.out"
RIVET_RUNNER_KIND=serverless PORT=0 "$runner_bin" >"$work/serverless.out" 2>"$work/serverless.log" &
server=$!
pids+=("$server")
exec 5<"$work/serverless.out"
IFS= read -r -t 30 line <&5 || fail "the serverless server did not start"
[[ "$line" =~ ^listening\ on\ ([0-9]+)$ ]] || fail "the serverless server printed '$line'"
sport="${BASH_REMATCH[1]}"
curl -sf "http://127.0.0.1:$sport/api/rivet/metadata" | grep -q '"serverless"' || fail "/metadata is not serverless"
curl -sf -X PUT "$engine/__fake/serverless/default" -H 'content-type: application/json' \
  -d "{\"url\":\"http://127.0.0.1:$sport/api/rivet\"}" >/dev/null || fail "configuring the serverless pool failed"
expect 8 "$cli" --endpoint "$engine" call counter k increment 1
inits=$(curl -sf "$engine/__fake/messages?dir=fromServerless")
[[ "$inits" == *ToServerlessServerInit* ]] || fail "no runner was started through /start: $inits"
echo "ok: the actor ran on a serverless runner"

# SIGTERM: serve() returns once the runners have drained.
stop_and_check "$server" 5 "server stopped"
echo "engine_runner self-test passed"
