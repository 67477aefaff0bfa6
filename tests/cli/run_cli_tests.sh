#!/usr/bin/env bash
# Command-line contract tests: exit codes and messages of the bilevel-opt binary.
set -u
bin="$1"
source "$(dirname "$0")/lib.sh"
expect "help" 0 "train" -- --help
expect "version" 0 "bilevel-opt [0-9]+\.[0-9]+" -- --version
expect "no subcommand" 2 "subcommand" --
expect "unknown subcommand" 2 "subcommand|frobnicate" -- frobnicate

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
no_result() {  # no_result NAME DIR: the run left no result.json
  if [[ -e "$2/result.json" ]]; then bad "$1 left $2/result.json"; else ok; fi
}
expect "unknown problem" 2 "unknown problem 'nope'.*quadratic" -- train --problem nope --method fo --out "$tmp/a"
no_result "unknown problem" "$tmp/a"
expect "unknown method" 2 "unknown method 'nope'.*valid methods" -- train --problem quadratic --method nope --out "$tmp/b"
no_result "unknown method" "$tmp/b"
expect "unknown key" 2 "unknown option 'bogus'.*valid options" -- train --problem quadratic --method fo --set bogus=1 --out "$tmp/c"
no_result "unknown key" "$tmp/c"
expect "non-numeric value" 2 "inner_lr.*'fast'" -- train --problem quadratic --method fo --set inner_lr=fast --out "$tmp/d"
expect "q above 1" 2 "option 'q'.*1.5" -- train --problem quadratic --method ufo --set q=1.5 --out "$tmp/e"
expect "q zero" 2 "option 'q'" -- train --problem quadratic --method ufo --set q=0 --out "$tmp/e"
no_result "q" "$tmp/e"
expect "negative steps" 2 "steps" -- train --problem quadratic --method fo --steps -5 --out "$tmp/f"
no_result "negative steps" "$tmp/f"
expect "NaN value" 2 "'nan' is not valid" -- train --problem quadratic --method fo --set inner_lr=nan --out "$tmp/g"
touch "$tmp/file"
expect "unwritable out" 2 "cannot create directory" -- train --problem quadratic --method fo --steps 2 --out "$tmp/file/run"
expect "missing config" 2 "config.*not found" -- train --config "$tmp/none.toml" --out "$tmp/h"
printf 'problem = "quadratic"\nmethod = [1,\n' > "$tmp/bad.toml"
expect "corrupt config" 2 "invalid TOML" -- train --config "$tmp/bad.toml" --out "$tmp/i"
no_result "corrupt config" "$tmp/i"
expect "inapplicable method" 2 "reptile.*meta-initialization" -- train --problem quadratic --method reptile --out "$tmp/j"
no_result "inapplicable method" "$tmp/j"
# An estimator whose memory model exceeds max_memory is refused before anything is written (README "Scale").
expect "memory refusal" 2 "method 'exact' would need about .*max_memory = 1e-05 GiB.*r·L.*recompute=true" -- \
  train --problem quadratic --method exact --set max_memory=0.00001 --steps 2 --out "$tmp/mem"
no_result "memory refusal" "$tmp/mem"
check "memory refusal leaves no directory" test ! -e "$tmp/mem"
expect "bad max_memory" 2 "max_memory" -- train --problem quadratic --method exact --set max_memory=lots --out "$tmp/mem"
printf 'problem = "ufo-counterexample"\nmethod = "fo"\nsteps = 20\n[run]\neval_every = 5\n' > "$tmp/ok.toml"
expect "config run" 0 "ok after 20 steps" -- train --config "$tmp/ok.toml" --seed 2 --out "$tmp/k"
expect "rerun into finished dir" 2 "already holds" -- train --config "$tmp/ok.toml" --out "$tmp/k"
expect "list problems" 0 "ufo-counterexample" -- list problems
expect "list methods" 0 "adaptive_variant" -- list methods
expect "list bad" 2 "problems" -- list things
expect "check" 0 "written" -- check --problem quadratic --methods fo,exact,ufo --samples 20 --out "$tmp/check.json"
expect "check unknown method" 2 "unknown method" -- check --problem quadratic --methods fo,zzz --out "$tmp/check2.json"
# Damaged data: a truncated MNIST file is named, with the expected size and the fetch command; nothing is written.
mkdir -p "$tmp/data/mnist"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  head -c 1000 /dev/zero > "$tmp/data/mnist/$f"
done
expect "truncated data" 2 "mnist/[a-z0-9-]+-ubyte: truncated: 1000 bytes, expected [0-9]+.*make data DATA_DIR=" -- \
  train --problem hyper-cleaning --method fo --set data_dir="$tmp/data" --steps 1 --out "$tmp/l"
check_absent() { if [[ -e "$2" ]]; then bad "$1 left $2"; else ok; fi; }
check_absent "truncated data" "$tmp/l"
expect "datasets list marks damaged" 0 "mnist .*damaged" -- datasets list --data-dir "$tmp/data"
expect "datasets verify fails" 1 "FAILED +mnist/train-images-idx3-ubyte +truncated" -- datasets verify --data-dir "$tmp/data" mnist
expect "missing data dir" 2 "make data" -- train --problem hpo-l2 --method fo --set data_dir="$tmp/nodata" --out "$tmp/m"
check_absent "missing data dir" "$tmp/m"
# check --bias-variance: the UFOM theory of a toy instance; refused (nothing written) for any other problem.
expect "check bias-variance" 0 "q\* = 0\.110 +\(κ = 0\.5, stored" -- \
  check --problem ufo-qcurve --methods fo --samples 2 --bias-variance --out "$tmp/bv.json"
expect "check bias-variance elsewhere" 2 "needs a UFOM toy problem" -- \
  check --problem quadratic --bias-variance --out "$tmp/bv2.json"
check_absent "check bias-variance elsewhere" "$tmp/bv2.json"

# Whose fault: a bug inside the library (an injected internal precondition failure) exits 1 and says
# "internal error"; the run directory records status "error" with the same words. Bad input stays exit 2.
BILEVEL_FAULT=train_step expect "internal error exits 1" 1 "internal error: .*fault injected at 'train_step'" -- \
  train --problem quadratic --method fo --steps 3 --quiet --out "$tmp/internal"
if grep -qE '"status": *"error"' "$tmp/internal/result.json" && grep -q 'internal error' "$tmp/internal/result.json"; then ok
else bad "internal error: result.json lacks status error / 'internal error'"; fi
if grep -qE '"step": *0[,}]' "$tmp/internal/curve.jsonl"; then ok; else bad "internal error: curve.jsonl lacks its step-0 row"; fi
BILEVEL_FAULT=train_step expect "bad input is still exit 2 under the fault hook" 2 "unknown option 'bogus'" -- \
  train --problem quadratic --method fo --set bogus=1 --out "$tmp/internal2"
check_absent "bad input" "$tmp/internal2"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
