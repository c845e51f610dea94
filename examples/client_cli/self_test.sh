#!/usr/bin/env bash
# The client_cli example against a RivetKit server process hosting a `counter` actor
# (increment, getCount, event newCount): the counter example (ctest example.client_cli) or the
# TypeScript reference server (tests/interop/client_vs_reference.sh).
#   self_test.sh <client_cli program> <server program> [server args...]
# Starts the server on a free port (PORT=0) with a fresh data directory, waits for its
# "listening on [port] N" line, then checks each command's output and exit status.
set -euo pipefail
cli="$1"
shift

data=$(mktemp -d)
cleanup() {
  [[ -n "${server:-}" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$data"
}
trap cleanup EXIT

fail() {
  echo "client_cli self-test: $*" >&2
  exit 1
}

# The server's stdout comes through a FIFO; its "listening on" line is awaited with a deadline
# (fd 3 stays open so later output cannot fail).
mkfifo "$data/stdout"
PORT=0 HOST=127.0.0.1 RIVETKIT_DATA_PATH="$data/db" "$@" >"$data/stdout" &
server=$!
exec 3<"$data/stdout"
port=""
while IFS= read -r -t 30 line <&3; do
  if [[ "$line" =~ listening\ on\ (port\ )?([0-9]+) ]]; then
    port="${BASH_REMATCH[2]}"
    break
  fi
done
[[ -n "$port" ]] || fail "the server did not start (no 'listening on' line within 30 s)"
endpoint="http://127.0.0.1:$port"

expect() {  # expect <wanted output> <command...>
  local want="$1"
  shift
  local got
  got=$("$@") || fail "exit status $? from: $*"
  [[ "$got" == "$want" ]] || fail "$*: expected '$want', got '$got'"
  echo "ok: $* -> $got"
}

for enc in bare cbor json; do
  expect 5 "$cli" --endpoint "$endpoint" --encoding "$enc" call counter "cli-$enc" increment 5
  expect 7 "$cli" --endpoint "$endpoint" --encoding "$enc" call counter "cli-$enc" increment 2
  expect 7 "$cli" --endpoint "$endpoint" --encoding "$enc" --get call counter "cli-$enc" getCount
  # connect: the action's event arrives on the connection, then the result is printed.
  got=$("$cli" --endpoint "$endpoint" --encoding "$enc" connect counter "cli-$enc" --on newCount \
    --count 1 --timeout 10 --call increment 1) || fail "connect failed ($enc)"
  grep -qx '{"event":"newCount","args":\[8\]}' <<<"$got" || fail "connect ($enc): no event in '$got'"
  grep -qx '{"result":8}' <<<"$got" || fail "connect ($enc): no result in '$got'"
  echo "ok: connect ($enc)"
done

# A multi-part key given as JSON, and resolve + --id addressing the same actor.
expect 3 "$cli" --endpoint "$endpoint" call counter '["org","room 1"]' increment 3
id=$("$cli" --endpoint "$endpoint" resolve counter '["org","room 1"]')
[[ "$id" =~ ^[0-9a-f]+$ ]] || fail "resolve printed '$id'"
expect 3 "$cli" --endpoint "$endpoint" --id call counter "$id" getCount

# Errors: a structured error and exit status 1; bad usage: exit status 2.
set +e
err=$("$cli" --endpoint "$endpoint" call counter cli-bare nope 2>&1 >/dev/null)
status=$?
set -e
[[ $status -eq 1 && "$err" == "error action/not_found: "* ]] || fail "unknown action: status $status, '$err'"
echo "ok: unknown action -> $err"
set +e
"$cli" --endpoint "$endpoint" --get call counter never-created getCount 2>/dev/null
status=$?
"$cli" call counter k increment '{not json' 2>/dev/null
usage=$?
set -e
[[ $status -eq 1 ]] || fail "get of a missing actor: status $status"
[[ $usage -eq 2 ]] || fail "bad JSON argument: status $usage"
echo "ok: errors"
echo "client_cli self-test passed"
