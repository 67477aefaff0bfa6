# Shared by the command-line test scripts (sourced; needs $bin): pass/fail counters, `check` and `expect`.
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect() {  # expect NAME EXPECTED_RC PATTERN -- ARGS...: exit code and an output line matching PATTERN
  local name="$1" want="$2" pattern="$3"
  shift 4
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [[ $rc -eq $want ]] && grep -qE -- "$pattern" <<<"$out"; then
    ok
  else
    bad "$name (rc=$rc, want $want; pattern '$pattern')"
    echo "$out" | head -8 | sed 's/^/    /'
  fi
}
check() {  # check NAME COMMAND...: passes when the command succeeds
  local name="$1"
  shift
  if "$@"; then ok; else bad "$name"; fi
}
