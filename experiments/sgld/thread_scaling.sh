#!/usr/bin/env bash
# Thread scaling of the sgld estimator: one estimate with C = 8 chains on gaussian-sgld (random instance,
# P = 512: one SGLD step ≈ 0.2 ms on an idle core), with 1 and with 2 threads, alternating; checks that both give
# bit-identical results and prints the speed-up from the medians and from the minima of 9 runs each, with the
# load average before and after (the speed-up needs 2 idle cores: on a loaded machine rerun when it is
# quiet). Extra arguments go to the benchmark (--dim, --chains, --steps, --variant, --threads, --repeats).
# Usage: experiments/sgld/thread_scaling.sh [ARGS…]     (about 1 minute)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bench="${BENCH_SGLD_THREADS:-$root/build/release/bench_sgld_threads}"
if [[ ! -x "$bench" ]]; then
  echo "building the benchmarks (make release)…" >&2
  make -C "$root" release >&2
fi
for variant in one-step pathwise; do
  "$bench" --dim 512 --chains 8 --steps 200 --threads 2 --repeats 9 --variant "$variant" "$@"
done
