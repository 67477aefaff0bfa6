#!/usr/bin/env bash
# scripts/check_layers.sh: passes on the repository, and fails on scratch trees that break the layer order.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
check=$here/../../scripts/check_layers.sh
fails=0
expect() {  # expect <0|1> <description> <root>
  local want=$1 what=$2 root=$3 out rc
  out=$("$check" "$root" 2>&1); rc=$?
  if [[ $rc -ne $want ]]; then
    echo "FAIL: $what: exit $rc, expected $want; output: $out"; fails=$((fails + 1))
  else
    echo "ok: $what"
  fi
}
expect 0 "the repository keeps the layer order" "$here/../.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mk() { mkdir -p "$(dirname "$tmp/$1/$2")"; printf '%s\n' "$3" > "$tmp/$1/$2"; }
mk clean lib/tensor/t.hpp '#include <vector>'
mk clean lib/run/r.cpp '#include "tensor/t.hpp"'
mk clean app/main.cpp '#include "run/r.hpp"'
expect 0 "a clean scratch tree passes" "$tmp/clean"
mk up lib/tensor/t.hpp '#include "run/train.hpp"'
expect 1 "tensor including run fails" "$tmp/up"
mk up2 lib/problems/p.hpp '  #  include "hypergrad/estimator.hpp"'
expect 1 "problems including hypergrad (spaced directive) fails" "$tmp/up2"
mk lib_app lib/run/r.cpp '#include "app/commands.hpp"'
expect 1 "lib including app fails" "$tmp/lib_app"
mk unknown lib/newthing/n.cpp '#include "tensor/t.hpp"'
expect 1 "a folder with no place in the order fails" "$tmp/unknown"
mk unknown_to lib/run/r.cpp '#include "mystery/m.hpp"'
expect 1 "an include of an unknown folder fails" "$tmp/unknown_to"
[[ $fails -eq 0 ]] && echo "all layer checks passed" || { echo "$fails layer checks failed"; exit 1; }
