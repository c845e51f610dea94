#!/usr/bin/env bash
# Installs the Debian 12 packages rivetkit-cpp needs to build and test, if any are missing.
# Idempotent: when everything is installed it changes nothing and needs no network or root.
#   RIVETKIT_SKIP_DEPS=1   do nothing (dependencies provided some other way)
set -euo pipefail

if [[ "${RIVETKIT_SKIP_DEPS:-}" == 1 ]]; then
  echo "install-deps: skipped (RIVETKIT_SKIP_DEPS=1)"
  exit 0
fi

packages=(
  cmake ninja-build g++ pkg-config
  libasio-dev libcbor-dev nlohmann-json3-dev libsqlite3-dev libfmt-dev libssl-dev
  catch2 node-llhttp curl
)
# Node runs the interop tests. Any node on PATH will do (ours may come from another source than
# Debian's nodejs package), so Debian's is installed only when there is none.
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: no dpkg-query: not a Debian system; install these yourself: ${packages[*]}" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != installed ]]; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"

as_root=()
if [[ "$(id -u)" != 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  as_root=(sudo)
  # Never wait for a password nobody can type.
  [[ -t 0 ]] || as_root+=(-n)
fi

export DEBIAN_FRONTEND=noninteractive
apt_options=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q update </dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install "${apt_options[@]}" --no-install-recommends "${missing[@]}" </dev/null
echo "install-deps: done"
