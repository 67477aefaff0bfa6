#!/usr/bin/env bash
# Fails when a lib/ folder (or app/) includes a folder above it in the layer order (lowest first):
#
#   base, sys → tensor → autodiff → nn, optim, data → problems → hypergrad → run → app
#
# A folder may include its own layer or lower ones. An include of a folder that is not in the table
# fails too, so a new folder has to be given its place here (and in DESIGN.md / README.md).
# usage: scripts/check_layers.sh [ROOT]   (ROOT defaults to the repository; tests pass a scratch tree)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
declare -A rank=([base]=0 [sys]=0 [tensor]=1 [autodiff]=2 [nn]=3 [optim]=3 [data]=3 [problems]=4
                 [hypergrad]=5 [run]=6 [app]=7)
bad=0
checked=0
while IFS= read -r -d '' file; do
  rel=${file#"$root"/}
  if [[ $rel == app/* ]]; then from=app; else from=${rel#lib/}; from=${from%%/*}; fi
  if [[ -z ${rank[$from]+x} ]]; then
    echo "check_layers: $rel: folder '$from' has no place in the layer order (add it to scripts/check_layers.sh)" >&2
    bad=1
    continue
  fi
  checked=$((checked + 1))
  lineno=0
  while IFS= read -r line; do
    lineno=$((lineno + 1))
    [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"/]+)/ ]] || continue
    to=${BASH_REMATCH[1]}
    if [[ -z ${rank[$to]+x} ]]; then
      echo "check_layers: $rel:$lineno includes '$to/…', which is not a layer" >&2
      bad=1
    elif (( rank[$to] > rank[$from] )); then
      echo "check_layers: $rel:$lineno: $from (layer ${rank[$from]}) includes $to (layer ${rank[$to]}), which is above it" >&2
      bad=1
    fi
  done < "$file"
done < <(find "$root/lib" "$root/app" -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.inc' -o -name '*.h' \) -print0 2>/dev/null)
if (( checked == 0 )); then
  echo "check_layers: no sources found under $root/lib or $root/app" >&2
  exit 1
fi
if (( bad )); then exit 1; fi
echo "check_layers: $checked files, every include points to the same layer or below"
