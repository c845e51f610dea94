#!/usr/bin/env bash
# THE demo command. Installs missing Debian packages (scripts/install-deps.sh), builds the
# `counter` example (Release, build/demo) and runs it; arguments are passed to the example.
#   RIVETKIT_JOBS=N   build parallelism (default: all cores)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${RIVETKIT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
dir=build/demo

bash scripts/install-deps.sh

if [[ ! -f examples/counter/CMakeLists.txt ]]; then
  echo "demo: the counter example does not exist yet (no examples/counter/CMakeLists.txt)" >&2
  exit 1
fi

# The top-level CMakeLists.txt records where the `counter` target's program is built.
path_file="$dir/rivetkit-example-counter-Release.path"
rm -f "$path_file"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DRIVETKIT_BUILD_EXAMPLES=ON -DRIVETKIT_BUILD_TESTS=OFF
if [[ ! -f "$path_file" ]]; then
  echo "demo: there is no target named 'counter' (examples/CMakeLists.txt must add the" \
       "counter directory, which must define add_executable(counter ...))" >&2
  exit 1
fi
cmake --build "$dir" --target counter --parallel "$jobs"

program=$(<"$path_file")
echo "==> $program $*"
exec "$program" "$@"
