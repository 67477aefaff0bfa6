#!/usr/bin/env bash
# Runs one libFuzzer target for $FUZZ_SECONDS seconds (default 600) from its seed corpus and fails on any
# crash, sanitizer report, timeout or out-of-memory. The seed corpus in the repository is only read: inputs
# the fuzzer finds go to WORK/corpus/NAME, a crashing input to WORK/crashes/NAME/ (after the fix, copy it into
# fuzz/corpus/NAME/ as a regression case), the full log to WORK/NAME.log and a one-line result to
# WORK/NAME.result.
# usage: fuzz/run_fuzz.sh BINARY FUZZ_DIR NAME WORK     (run by ctest in build/fuzz: make fuzz, make test)
set -euo pipefail
bin=$1 fuzz_dir=$2 name=$3 work=$4
seconds=${FUZZ_SECONDS:-600}
seeds="$fuzz_dir/corpus/$name"
[[ -d $seeds ]] || { echo "run_fuzz: no seed corpus $seeds" >&2; exit 1; }
mkdir -p "$work/corpus/$name" "$work/crashes/$name"
log="$work/$name.log"
result="$work/$name.result"
rm -f "$result"
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$work/crashes/$name/")
[[ -f $fuzz_dir/$name.dict ]] && args+=(-dict="$fuzz_dir/$name.dict")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# New inputs go to the first directory (scratch); the seeds are read from the second.
status=0
"$bin" "${args[@]}" "$work/corpus/$name" "$seeds" >"$log" 2>&1 || status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
if (( status != 0 )); then
  echo "run_fuzz: $name FAILED (exit $status) after ${runs:-?} executions; log $log, input in $work/crashes/$name/" |
    tee "$result" >&2
  grep -E "ERROR|runtime error|fuzz check failed|Test unit written|deadly signal|uncaught|SUMMARY" "$log" | head -n 20 >&2 || true
  tail -n 40 "$log" >&2
  exit 1
fi
echo "run_fuzz: $name: ${runs:-?} executions in ${seconds} s, no crash ($(ls "$seeds" | wc -l) seeds;" \
     "$(ls "$work/corpus/$name" | wc -l) inputs found in $work/corpus/$name)" | tee "$result"
