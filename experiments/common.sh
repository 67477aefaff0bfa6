# Shared by the experiment scripts: locate (or build) the binary.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BILEVEL_OPT:-$root/build/release/bilevel-opt}"
if [[ ! -x "$bin" ]]; then
  echo "building bilevel-opt (make release)…" >&2
  make -C "$root" release >&2
fi
# train_once DIR ARGS…: one run unless DIR already holds a finished one (rerunning a script resumes it).
train_once() {
  local dir="$1"
  shift
  if [[ -f "$dir/result.json" ]] && grep -q '"status": "ok"' "$dir/result.json"; then return 0; fi
  "$bin" train "$@" --out "$dir" --force --quiet || echo "run $dir ended with exit code $?" >&2
}
# search_once DIR ARGS…: the same for a random-search run (bilevel-opt search).
search_once() {
  local dir="$1"
  shift
  if [[ -f "$dir/result.json" ]] && grep -q '"status": "ok"' "$dir/result.json"; then return 0; fi
  "$bin" search "$@" --out "$dir" --force --quiet || echo "run $dir ended with exit code $?" >&2
}
