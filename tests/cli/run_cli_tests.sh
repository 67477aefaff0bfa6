#!/usr/bin/env bash
# Command-line contract tests: exit codes and messages of the bilevel-opt binary.
set -u
bin="$1"
pass=0
fail=0
expect() {  # expect NAME EXPECTED_RC PATTERN -- ARGS...
  local name="$1" want="$2" pattern="$3"
  shift 4
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [[ $rc -eq $want ]] && grep -qE -- "$pattern" <<<"$out"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $name (rc=$rc, want $want; pattern '$pattern')"
    echo "$out" | head -5 | sed 's/^/    /'
  fi
}
expect "help" 0 "train" -- --help
expect "version" 0 "bilevel-opt [0-9]+\.[0-9]+" -- --version
expect "no subcommand" 2 "subcommand" --
expect "unknown subcommand" 2 "frobnicate|Extras|extra" -- frobnicate
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
