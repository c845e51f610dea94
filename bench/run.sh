#!/usr/bin/env bash
# The side-by-side benchmarks: our server against the TypeScript reference (npm rivetkit@2.0.33),
# the same actors (bench/bench_server.cpp, bench/reference/server.mjs), the same workloads from
# the same load generator (bench/bench_load.cpp), one server after the other on this machine.
#
#   bash bench/run.sh                 everything (about 10 minutes on 2 cores)
#   BENCH_ONLY="http ws" bash bench/run.sh     only these workloads (the groups: http ws fanout
#                                              create wake ceiling ceiling_ws durability inprocess)
#
# Builds in Release (build/bench), installs the reference's npm packages (bench/reference), then
# for each workload starts a fresh server (fresh data directory, file-system driver on both
# sides) pinned to CPU 0 and runs the generator pinned to CPU 1. Our server runs one io thread,
# as the reference runs one event loop; the reference runs with NODE_ENV=production, as deployed
# (its inspector is then off), and otherwise with its defaults. The in-process and durability workloads (ours only) run
# unpinned. The ceiling groups (ceiling, ceiling_ws) run the HTTP workload and the ws and fanout
# workloads against the ceiling servers (bench/ceiling_server.cpp, bench/ws_ceiling_server.cpp:
# no actor runtime), pinned the same way, to show what this machine can do at all. Prints a
# table (figure, ours, reference, ratio, target) and writes the raw results (JSON lines) and the
# table to build/bench/results-<time>.{jsonl,md}.
#
# Parameters (environment): BENCH_DURATION (seconds per timed workload, default 5),
# BENCH_CREATE_COUNT (actors created on ours, default 100000), BENCH_CREATE_COUNT_REFERENCE
# (on the reference, default 10000: it creates ~250/s), BENCH_CREATE_LATENCY_COUNT (creations
# one at a time for the latency figure, default 2000), BENCH_WAKE_ACTORS (default 1000),
# BENCH_FANOUT_CONNS (default 1000), BENCH_FANOUT_MESSAGES (default 200), RIVETKIT_JOBS,
# BENCH_BUILD_DIR (the Release build tree to use, relative to the repository; default build/bench).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
dir="${BENCH_BUILD_DIR:-build/bench}"
jobs="${RIVETKIT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
duration="${BENCH_DURATION:-5}"
create_count="${BENCH_CREATE_COUNT:-100000}"
create_count_reference="${BENCH_CREATE_COUNT_REFERENCE:-10000}"
create_latency_count="${BENCH_CREATE_LATENCY_COUNT:-2000}"
wake_actors="${BENCH_WAKE_ACTORS:-1000}"
fanout_conns="${BENCH_FANOUT_CONNS:-1000}"
fanout_messages="${BENCH_FANOUT_MESSAGES:-200}"
only=" ${BENCH_ONLY:-http ws fanout create wake ceiling ceiling_ws durability inprocess} "

say() { printf '\n==> %s\n' "$*" >&2; }
wants() { [[ "$only" == *" $1 "* ]]; }

bash scripts/install-deps.sh >&2
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "bench: node and npm are required for the reference server (apt-get install nodejs npm)" >&2
  exit 1
fi
# (stdout carries only the table: the build's output goes to stderr)
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRIVETKIT_BUILD_TESTS=OFF -DRIVETKIT_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$dir" --parallel "$jobs" --target bench_server ceiling_server ws_ceiling_server bench_load inprocess_actions inprocess_ceiling core_latency durability >&2
bash scripts/npm-install.sh bench/reference

# CPU 0 for the server, CPU 1 for the load generator (no pinning on a single-CPU machine).
if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
  on_server_cpu=(taskset -c 0)
  on_load_cpu=(taskset -c 1)
  cpus="server on CPU 0, load generator on CPU 1"
else
  on_server_cpu=()
  on_load_cpu=()
  cpus="unpinned (fewer than 2 CPUs)"
fi

stamp=$(date -u +%Y%m%d-%H%M%S)
results="$root/$dir/results-$stamp.jsonl"
: >"$results"
work=$(mktemp -d)
server=""
stop_server() {
  if [[ -n "$server" ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
  exec 3<&- 2>/dev/null || true
}
trap 'stop_server; rm -rf "$work"' EXIT

# start_server <ours|reference|ceiling|ceiling_ws>: a fresh server on a free port; sets $server and $port.
start_server() {
  local side="$1" data="$work/data-$RANDOM$RANDOM"
  mkdir -p "$data"
  rm -f "$work/stdout"
  mkfifo "$work/stdout"
  case "$side" in
    ours) PORT=0 HOST=127.0.0.1 RIVETKIT_DATA_PATH="$data" "${on_server_cpu[@]}" "$dir/bench/bench_server" --threads 1 \
      >"$work/stdout" 2>>"$work/server.log" & ;;
    reference) NODE_ENV=production PORT=0 HOST=127.0.0.1 RIVETKIT_DATA_PATH="$data" "${on_server_cpu[@]}" node bench/reference/server.mjs \
      >"$work/stdout" 2>>"$work/server.log" & ;;
    ceiling) PORT=0 HOST=127.0.0.1 "${on_server_cpu[@]}" "$dir/bench/ceiling_server" \
      >"$work/stdout" 2>>"$work/server.log" & ;;
    ceiling_ws) PORT=0 HOST=127.0.0.1 "${on_server_cpu[@]}" "$dir/bench/ws_ceiling_server" \
      >"$work/stdout" 2>>"$work/server.log" & ;;
  esac
  server=$!
  exec 3<"$work/stdout"
  port=""
  local line
  while IFS= read -r -t 30 line <&3; do
    if [[ "$line" =~ listening\ on\ ([0-9]+) ]]; then
      port="${BASH_REMATCH[1]}"
      break
    fi
  done
  if [[ -z "$port" ]]; then
    echo "bench: the $side server did not start; its log:" >&2
    tail -20 "$work/server.log" >&2
    exit 1
  fi
}

# load <side> <label> <bench_load args...>: one run; its JSON line is tagged and recorded.
load() {
  local side="$1" label="$2"
  shift 2
  say "$side: $label (bench_load $*)"
  local line status=0
  line=$("${on_load_cpu[@]}" "$dir/bench/bench_load" "$@" --endpoint "http://127.0.0.1:$port") || status=$?
  if [[ $status -ne 0 ]]; then
    # Exit 1: the run finished with errors (counted in its line); 2: it could not run.
    echo "bench: $label against $side failed (exit $status)" >&2
    [[ "$line" == "{"* ]] || line='{"error":true}'
  fi
  echo "$line" >&2
  printf '{"side":"%s","label":"%s","result":%s}\n' "$side" "$label" "$line" >>"$results"
}

# side_by_side <label> <bench_load args...>: the workload against a fresh server of each side.
side_by_side() {
  local label="$1"
  shift
  for side in ours reference; do
    start_server "$side"
    local args=("$@")
    # The creation workload reads the server's resident memory; the reference creates about
    # 250 actors/s here, so it gets fewer (the figures are rates and per-actor averages).
    if [[ "$label" == create ]]; then
      args+=(--server-pid "$server" --count "$([[ $side == ours ]] && echo "$create_count" || echo "$create_count_reference")")
    fi
    load "$side" "$label" "${args[@]}"
    stop_server
  done
}

if wants http; then
  side_by_side http_json http --action ping --encoding json --conns 32 --duration "$duration"
  side_by_side http_bare http --action ping --encoding bare --conns 32 --duration "$duration"
fi
if wants ws; then
  side_by_side ws_1conn_64inflight ws --encoding bare --conns 1 --actors 1 --inflight 64 --action ping --duration "$duration"
  side_by_side ws_100conns_100actors ws --encoding bare --conns 100 --actors 100 --inflight 1 --action ping --duration "$duration"
fi
if wants fanout; then
  side_by_side fanout fanout --conns "$fanout_conns" --messages "$fanout_messages" --encoding bare
fi
if wants create; then
  side_by_side create create --conns 32
  # Latency of one cold creation + first action, nothing else in flight.
  side_by_side create_latency create --count "$create_latency_count" --conns 1
fi
if wants wake; then
  side_by_side wake wake --actors "$wake_actors" --conns 8
fi
if wants ceiling; then
  start_server ceiling
  load ours ceiling http --path /gateway/x/action/ping --encoding json --conns 32 --duration "$duration"
  stop_server
fi
if wants ceiling_ws; then
  # The ws and fanout workloads, exactly as above, each against a fresh WebSocket ceiling server.
  ceiling_ws() {
    local label="$1"
    shift
    start_server ceiling_ws
    load ours "$label" "$@"
    stop_server
  }
  ceiling_ws ceiling_ws_1conn_64inflight ws --encoding bare --conns 1 --actors 1 --inflight 64 --action ping --duration "$duration"
  ceiling_ws ceiling_ws_100conns_100actors ws --encoding bare --conns 100 --actors 100 --inflight 1 --action ping --duration "$duration"
  ceiling_ws ceiling_fanout fanout --conns "$fanout_conns" --messages "$fanout_messages" --encoding bare
fi
if wants durability; then
  say "ours: durability modes (bench/durability, in process, 2 io threads, unpinned)"
  "$dir/bench/durability" --threads 2 | grep '^{' | while IFS= read -r line; do
    printf '{"side":"ours","label":"durability","result":%s}\n' "$line" >>"$results"
    echo "$line" >&2
  done
fi
if wants inprocess; then
  # Where the hypervisor has put the two vCPUs decides what a hand-off between io threads costs;
  # measured before and after the group, as it can change within a run.
  core_latency() {
    say "machine: cache-line round trip between CPU 0 and CPU 1, $1 the in-process group (bench/core_latency)"
    "$dir/bench/core_latency" | grep '^{' | while IFS= read -r line; do
      printf '{"side":"ours","label":"core_latency_%s","result":%s}\n' "$1" "$line" >>"$results"
      echo "$line" >&2
    done
  }
  core_latency before
  # The default: an io_context per thread, each caller next to the actors it calls; then callers
  # calling every actor, and the shared io_context (io_contexts::shared), for comparison.
  for variant in "1threads:--threads 1" "2threads:--threads 2" "2threads_anywhere:--threads 2 --callers anywhere" \
      "2threads_shared:--threads 2 --callers anywhere --contexts shared"; do
    label=${variant%%:*}
    say "ours: in-process actions, ${variant#*:} (bench/inprocess_actions, unpinned)"
    # shellcheck disable=SC2086 # the options are words
    "$dir/bench/inprocess_actions" ${variant#*:} | grep '^{' | while IFS= read -r line; do
      printf '{"side":"ours","label":"inprocess_%s","result":%s}\n' "$label" "$line" >>"$results"
      echo "$line" >&2
    done
  done
  # The same call pattern with no runtime: bare, and with 1 µs of busy work per call.
  for work in 0 1000; do
    for t in 1 2; do
      say "ceiling: in-process call pattern, $t io thread(s), ${work} ns of work per call (bench/inprocess_ceiling, unpinned)"
      "$dir/bench/inprocess_ceiling" --threads "$t" --work-ns "$work" | grep '^{' | while IFS= read -r line; do
        printf '{"side":"ours","label":"inprocess_ceiling_%sns_%sthreads","result":%s}\n' "$work" "$t" "$line" >>"$results"
        echo "$line" >&2
      done
    done
    # The runtime's default execution model: an io_context per thread, each caller calling
    # only actors of its own thread.
    say "ceiling: in-process call pattern, 2 io threads with an io_context each, callers next to their actors, ${work} ns of work per call"
    "$dir/bench/inprocess_ceiling" --threads 2 --work-ns "$work" --contexts per-thread --placement local | grep '^{' | while IFS= read -r line; do
      printf '{"side":"ours","label":"inprocess_ceiling_%sns_2threads_local","result":%s}\n' "$work" "$line" >>"$results"
      echo "$line" >&2
    done
  done
  core_latency after
fi

table="$root/$dir/results-$stamp.md"
node bench/report.mjs "$results" \
  --machine "$(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $cpus" \
  --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo '+changes')" \
  | tee "$table"
echo "results: $results and $table" >&2
