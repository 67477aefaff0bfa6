#!/usr/bin/env bash
# Thread scaling of the sgld estimator: one estimate with C = 8 chains on gaussian-sgld (random instance,
# P = 256: one SGLD step ≈ 0.1–0.2 ms), with 1 and with 2 threads; checks that both give bit-identical
# results and prints the speed-up (median of 5 runs each). Extra arguments go to the benchmark
# (--dim, --chains, --steps, --variant, --threads, --repeats).
# Usage: experiments/sgld/thread_scaling.sh [ARGS…]     (about 1 minute)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bench="${BENCH_SGLD_THREADS:-$root/build/release/bench_sgld_threads}"
if [[ ! -x "$bench" ]]; then
  echo "building the benchmarks (make release)…" >&2
  make -C "$root" release >&2
fi
for variant in one-step pathwise; do
  "$bench" --dim 256 --chains 8 --steps 400 --threads 2 --repeats 5 --variant "$variant" "$@"
done
