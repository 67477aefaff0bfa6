#!/usr/bin/env bash
# HPO-SGLD hypergradient variants on the closed-form Gaussian problem (reference/hpo-sgld.md §8, the worked
# instance of §8.3: λ = 0.5, τ = 1, N = 1, η = 0.25), against F'(λ) = −0.997085 and dF_η/dλ = −0.968122.
#
#   A. chain-length sweep: fresh chains from θ₀ = 0, every state kept (burn_in 0, no window), L = 10 … 3000
#   B. long runs (stationary, burn_in 500): every variant against its closed form; windows K = 10 for the
#      first-order sums; cov on exact Gibbs draws and on the chain
#   C. pathwise as η → 0: dF_η/dλ → F'(λ)
#   D. peak memory (result.json: peak_estimator_bytes, peak_rss_bytes) of one outer step at 1k and 20k SGLD
#      steps (gaussian-sgld, and quadratic dim 100 where P×H = 10 000)
#   E. two-pass against drop-hessian with the same streams
#
# Estimates come from `bilevel-opt check` (mean and standard error over --samples independent estimates,
# each with its own streams); the closed forms the estimator reports (cf_*) from one `train --steps 1`
# with the same options. Needs the double build (make double). Writes OUT/*.json, OUT/*.csv, OUT/tables.md.
# Usage: experiments/sgld/gaussian_variants.sh [OUT_DIR]     (about 15 minutes on 2 cores)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${BILEVEL_OPT:-$root/build/double/bilevel-opt}"
if [[ ! -x "$bin" ]]; then
  echo "building the double-precision binary (make double)…" >&2
  make -C "$root" double >&2
fi
out="${1:-runs/sgld-gaussian}"
mkdir -p "$out"

# estimate NAME PROBLEM REPS SEED KEY=VALUE…: OUT/NAME.check.json and OUT/NAME.cf.json (kept if present).
estimate() {
  local name="$1" problem="$2" reps="$3" seed="$4"
  shift 4
  local sets=()
  for s in "$@"; do sets+=(--set "$s"); done
  if [[ ! -f "$out/$name.check.json" ]]; then
    "$bin" check --problem "$problem" --methods sgld "${sets[@]}" --samples "$reps" --seed "$seed" \
      --out "$out/$name.check.json" >/dev/null
  fi
  if [[ ! -f "$out/$name.cf.json" ]]; then
    local tmp="$out/.train-$name"
    rm -rf "$tmp"
    "$bin" train --problem "$problem" --method sgld "${sets[@]}" --steps 1 --seed "$seed" --out "$tmp" --quiet --force
    sed -n 2p "$tmp/curve.jsonl" >"$out/$name.cf.json"
    rm -rf "$tmp"
  fi
}
# field NAME JQ: a number from the pair of files of NAME ($c: check, $f: closed forms).
field() {
  jq -n -r --slurpfile c "$out/$1.check.json" --slurpfile f "$out/$1.cf.json" \
    "(\$c[0].estimators.sgld) as \$e | (\$f[0]) as \$cf | $2"
}
# memrun NAME PROBLEM KEY=VALUE…: one outer step by `train`; keeps OUT/NAME.result.json.
memrun() {
  local name="$1" problem="$2"
  shift 2
  local sets=()
  for s in "$@"; do sets+=(--set "$s"); done
  if [[ ! -f "$out/$name.result.json" ]]; then
    local tmp="$out/.train-$name"
    rm -rf "$tmp"
    "$bin" train --problem "$problem" --method sgld "${sets[@]}" --steps 1 --seed 4 --threads 1 --out "$tmp" --quiet --force
    cp "$tmp/result.json" "$out/$name.result.json"
    rm -rf "$tmp"
  fi
}
# bytes per scalar of the binary (8: double build)
elt=$("$bin" --version 2>/dev/null | grep -q "real=float" && echo 4 || echo 8)
est='\($e.mean.values[0]*1e4|round/1e4) ± \($e.standard_error*1e4|round/1e4)'
variants=(pathwise cov drop-hessian one-step two-pass frozen)
load() { uptime | sed 's/.*load average: //'; }
{
  echo "Binary: $("$bin" --version). $(nproc) cores; load average (1, 5, 15 min) at start: $(load)."
  echo "Timings are wall-clock on a shared machine: compare them only within one table."
  echo
  echo "## A. Chain length (fresh chains from θ₀ = 0, all L states kept, no window; 4 chains per estimate)"
  echo
  echo "Estimate ± standard error over independent estimates, and (in brackets) the closed-form expectation of the"
  echo "estimator for the same schedule. F'(λ) = −0.997085, dF_η/dλ = −0.968122."
  echo
  lengths=(10 30 100 300 1000 3000)
  header="| variant |"
  rule="|---|"
  for L in "${lengths[@]}"; do header+=" L = $L |"; rule+="---|"; done
  echo "$header"
  echo "$rule"
  echo "variant,L,estimate,se,expected,dF,dF_eta" >"$out/chain_length.csv"
  for v in "${variants[@]}"; do
    row="| $v |"
    for L in "${lengths[@]}"; do
      reps=$((40000 / L))
      ((reps < 20)) && reps=20
      name="A-$v-$L"
      estimate "$name" gaussian-sgld "$reps" 1 variant="$v" chains=4 burn_in=0 samples="$L"
      row+=" $(field "$name" "\"$est [\(\$cf.cf_expected*1e4|round/1e4)]\"") |"
      field "$name" "\"$v,$L,\(\$e.mean.values[0]),\(\$e.standard_error),\(\$cf.cf_expected),\(\$cf.cf_dF),\(\$cf.cf_dF_eta)\"" \
        >>"$out/chain_length.csv"
    done
    echo "$row"
  done
  echo
  echo "## B. Long runs against the closed forms (burn-in 500, 8 chains per estimate)"
  echo
  echo "| variant | settings | estimate ± s.e. | closed form | (estimate − closed form)/s.e. | ms per estimate | peak bytes |"
  echo "|---|---|---|---|---|---|---|"
  echo "name,estimate,se,expected,seconds_per_estimate,peak_bytes" >"$out/long_runs.csv"
  long() {  # long NAME LABEL REPS KEY=VALUE…
    local name="$1" label="$2" reps="$3"
    shift 3
    estimate "$name" gaussian-sgld "$reps" 2 chains=8 "$@"
    local v
    v=$(field "$name" '$e.options.variant')
    field "$name" "\"| $v | $label | $est | \(\$cf.cf_expected*1e6|round/1e6) | \((\$e.mean.values[0]-\$cf.cf_expected)/\$e.standard_error*100|round/100) | \(\$e.seconds_per_sample*1e3*10|round/10) | \(\$e.peak_bytes) |\""
    field "$name" "\"$name,\(\$e.mean.values[0]),\(\$e.standard_error),\(\$cf.cf_expected),\(\$e.seconds_per_sample),\(\$e.peak_bytes)\"" \
      >>"$out/long_runs.csv"
  }
  long B-pathwise "M = 10000, no window (→ dF_η/dλ)" 12 variant=pathwise burn_in=500 samples=10000
  long B-cov-exact "exact Gibbs draws, M = 20000 (→ F'(λ))" 12 variant=cov sampler=exact samples=20000
  long B-cov-chain "chain, M = 10000 (O(η)-biased)" 12 variant=cov burn_in=500 samples=10000
  long B-one-step "M = 10000" 8 variant=one-step burn_in=500 samples=10000
  long B-drop-hessian "M = 10000, window K = 10" 8 variant=drop-hessian burn_in=500 samples=10000 window=10
  long B-two-pass "M = 10000, window K = 10" 8 variant=two-pass burn_in=500 samples=10000 window=10
  long B-frozen "M = 10000, window K = 10" 8 variant=frozen burn_in=500 samples=10000 window=10
  long B-drop-hessian-K50 "M = 10000, window K = 50" 8 variant=drop-hessian burn_in=500 samples=10000 window=50
  long B-pathwise-K10 "M = 10000, window K = 10" 8 variant=pathwise burn_in=500 samples=10000 window=10
  echo
  echo "Load average after table B: $(load)."
  echo
  echo "F(λ) = $(field B-pathwise '$cf.cf_F'), F_η(λ) = $(field B-pathwise '$cf.cf_F_eta'), F'(λ) = $(field B-pathwise '$cf.cf_dF'), dF_η/dλ = $(field B-pathwise '$cf.cf_dF_eta'), IFT (τ = 0) = $(field B-pathwise '$cf.cf_ift')."
  echo
  echo "## C. pathwise as η → 0 (8 chains, burn-in and chain length scaled with 1/η)"
  echo
  echo "| η | pathwise ± s.e. | dF_η/dλ | F'(λ) | cov (chain) ± s.e. | cov closed form |"
  echo "|---|---|---|---|---|---|"
  for eta in 0.25 0.1 0.05 0.02; do
    scale=$(awk -v e="$eta" 'BEGIN { printf "%d", 0.25 / e + 0.5 }')
    estimate "C-pathwise-$eta" gaussian-sgld 8 3 variant=pathwise chains=8 eta="$eta" burn_in=$((500 * scale)) \
      samples=$((5000 * scale))
    estimate "C-cov-$eta" gaussian-sgld 8 3 variant=cov chains=8 eta="$eta" burn_in=$((500 * scale)) \
      samples=$((5000 * scale))
    echo "| $eta | $(field "C-pathwise-$eta" "\"$est\"") | $(field "C-pathwise-$eta" '$cf.cf_dF_eta*1e6|round/1e6') | $(field "C-pathwise-$eta" '$cf.cf_dF*1e6|round/1e6') | $(field "C-cov-$eta" "\"$est\"") | $(field "C-cov-$eta" '$cf.cf_expected*1e6|round/1e6') |"
  done
  echo
  echo "## D. Peak memory of one outer step at 1 000 and 20 000 SGLD steps (1 chain, every state kept)"
  echo
  echo "From result.json of \`train --steps 1 --threads 1\`: peak_estimator_bytes (largest tensor memory the estimate"
  echo "held) / peak_rss_bytes (whole process, includes the binary and its libraries). quadratic dim 100: P = H = 100,"
  echo "so a dense P×H Jacobian is 10 000 entries ($(( 10000 * elt )) bytes)."
  echo
  echo "| variant | gaussian-sgld (P = 2, H = 1), 1k | 20k | quadratic (P = H = 100), 1k | 20k |"
  echo "|---|---|---|---|---|"
  echo "variant,problem,steps,peak_estimator_bytes,peak_rss_bytes,seconds" >"$out/memory.csv"
  for v in "${variants[@]}"; do
    row="| $v |"
    for problem in gaussian-sgld quadratic; do
      for steps in 1000 20000; do
        if [[ "$problem" == quadratic && "$v" == drop-hessian ]]; then
          row+=" (refused: dense M, use two-pass) |"
          continue
        fi
        local_sets=(variant="$v" chains=1 burn_in=0 samples="$steps")
        [[ "$problem" == quadratic ]] && local_sets+=(dim=100 tau=0.01 eta=0.02)
        memrun "D-$problem-$v-$steps" "$problem" "${local_sets[@]}"
        r="$out/D-$problem-$v-$steps.result.json"
        row+=" $(jq -r '"\(.peak_estimator_bytes) / \(.peak_rss_bytes)"' "$r") |"
        jq -r --arg v "$v" --arg p "$problem" --arg s "$steps" \
          '[$v, $p, $s, .peak_estimator_bytes, .peak_rss_bytes, .seconds] | @csv' "$r" | tr -d '"' >>"$out/memory.csv"
      done
    done
    echo "$row"
  done
  echo
  echo "## E. two-pass against drop-hessian (same seeds, hence the same chains)"
  echo
  for name in B-drop-hessian:B-two-pass A-drop-hessian-1000:A-two-pass-1000; do
    a="${name%%:*}"
    b="${name##*:}"
    da=$(jq '.estimators.sgld.mean.values[0]' "$out/$a.check.json")
    db=$(jq '.estimators.sgld.mean.values[0]' "$out/$b.check.json")
    awk -v a="$da" -v b="$db" -v n="$a / $b" 'BEGIN { printf "- %s: %.17g vs %.17g, |difference| = %.3g\n", n, a, b, (a > b ? a - b : b - a) }'
  done
  echo
  echo "Load average at the end: $(load)."
} | tee "$out/tables.md"
