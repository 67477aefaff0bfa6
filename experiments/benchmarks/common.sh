# Shared by the benchmark scripts (sourced): the repository root as working directory, the build and data
# directories and the Python interpreter from the environment, and bench_build to get targets built.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
build="${BUILD_DIR:-${BUILD:-build}/release}"
data="${DATA_DIR:-$root/data}"
py="${PYTHON:-/usr/bin/python3}"

# bench_build SCRIPT TARGET…: configure $build as a float Release build if it is not configured yet (warn
# if it is another build type: timings would not mean much), then build only the targets named.
bench_build() {
  local script="$1"
  shift
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  if ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release' "$build/CMakeCache.txt"; then
    echo "$script: $build is not a Release build; numbers will not mean much" >&2
  fi
  cmake --build "$build" --target "$@" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
}
