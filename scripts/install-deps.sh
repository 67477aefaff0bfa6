#!/usr/bin/env bash
# Installs the Debian packages bilevel-opt builds with, if any is missing.
# Works as root, uses sudo otherwise, and says what to install when it can do neither.
# usage: scripts/install-deps.sh [--mpi]   (--mpi adds Open MPI, for runs across processes and make test's MPI
#                                           build; make, make demo and the release binary do not need it)
set -euo pipefail
packages=(cmake g++ make pkg-config libcli11-dev nlohmann-json3-dev libopenblas-dev libtbb-dev doctest-dev zlib1g-dev libpng-dev libtomlplusplus-dev
          gnuplot-nox   # gnuplot-nox: `bilevel-opt compare --plot` draws its SVG and PNG with it
          clang libclang-rt-14-dev   # the parser fuzz targets (make fuzz; make test runs them briefly): libFuzzer
          ccache)  # make test's MPI build compiles the release build's sources again: ccache makes that a cache hit
if [[ ${1:-} == --mpi ]]; then
  packages+=(libopenmpi-dev openmpi-bin)  # build/mpi: `mpirun -np N bilevel-opt train …` (make mpi)
fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "install-deps: installing missing Debian packages: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "install-deps: cannot install packages (not root and no password-less sudo)." >&2
  echo "install-deps: please run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
