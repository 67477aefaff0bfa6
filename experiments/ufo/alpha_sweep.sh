#!/usr/bin/env bash
# UFOM α-sweep (reference ufom.md §4.1 item 3): how FOM's bias D² and the exact gradient's second moment V²
# grow with the inner step size α, and whether the optimal q of the time–variance rule (κ = ½, cost model
# C_det = r + 1, C_rnd = r) is the q that is best in experiment.
#
# Setup: the q-curve tasks (a = (0.5, 1.5), b = (0, 10), A = 400), r = 10; 10 α log-spaced in [0.001, 0.05];
# 20 q in linspace(0.05, 1); 2000 starts x0 ~ U(−50, 50) (the q-curves' range) per (α, q), the same starts,
# tasks and coins for every (α, q); 100 UFOM-SGD steps with γ_k = 10/(k+1). D², V²: max over 2001 θ in
# [−50, 50]. Experimental best q: argmin over q of the mean cost Σ(r + 1 + ξr) at which the mean M'(θ_k)²
# first reaches δ(α), the minimum over k of the q = 0.05 mean curve. The table's experiment column is seed 1;
# seeds 2–5 (other starts and coins) give its spread.
#
# Runs in process (build/release/ufo_alpha_sweep, experiments/ufo/alpha_sweep.cpp): about 15 s on 2 cores.
# Writes OUT/table.md, OUT/alpha_sweep.csv, OUT/seed-N/ (each seed's CSVs), OUT/dv.{svg,png}, OUT/q.{svg,png}.
# Usage: experiments/ufo/alpha_sweep.sh [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
sweep="${BILEVEL_UFO_ALPHA_SWEEP:-$root/build/release/ufo_alpha_sweep}"
if [[ ! -x "$sweep" ]]; then
  echo "building ufo_alpha_sweep (make release)…" >&2
  make -C "$root" release >&2
fi
out="${1:-runs/ufo-alpha-sweep}"
threads=${THREADS:-2}
seeds=(1 2 3 4 5)
start=$SECONDS
mkdir -p "$out"
for seed in "${seeds[@]}"; do
  "$sweep" --out "$out/seed-$seed" --seed "$seed" --threads "$threads" >"$out/seed-$seed.log"
done

# One row per α: seed 1's row, plus the min, median and max of the experimental best q over the seeds.
summary="$out/alpha_sweep.csv"
awk -F, -v nseeds=${#seeds[@]} '
  FNR == 1 { file++; next }
  {
    i = FNR - 1; q[i, file] = $7; if (file == 1) row[i] = $0; n = (i > n ? i : n)
    if (file == 1 || $10 > rmax[i]) rmax[i] = $10
  }
  END {
    print "alpha,D2,V2,D2_bound,V2_bound,q_theory,q_experiment,delta,cost_at_best,cost_ratio_theory,q_exp_min,q_exp_median,q_exp_max,cost_ratio_theory_max"
    for (i = 1; i <= n; i++) {
      for (s = 1; s <= nseeds; s++) v[s] = q[i, s] + 0
      for (s = 2; s <= nseeds; s++) for (t = s; t > 1 && v[t - 1] > v[t]; t--) { x = v[t]; v[t] = v[t - 1]; v[t - 1] = x }
      print row[i] "," v[1] "," v[int((nseeds + 1) / 2)] "," v[nseeds] "," rmax[i]
    }
  }' $(for s in "${seeds[@]}"; do echo "$out/seed-$s/alpha_sweep.csv"; done) >"$summary"

table="$out/table.md"
{
  echo "| α | D² | V² | q* theory | q* experiment (seed 1) | seeds 1–5: min / median / max | cost of the grid q nearest q* theory ÷ best: seed 1 (max over seeds) |"
  echo "|---|---|---|---|---|---|---|"
  awk -F, 'NR > 1 { printf "| %.5f | %.4g | %.4g | %.3f | %.2f | %.2f / %.2f / %.2f | %.2f (%.2f) |\n", $1, $2, $3, $6, $7, $11, $12, $13, $10, $14 }' "$summary"
} >"$table"
cat "$table"

# Plots (gnuplot, run in OUT with fixed relative file names: nothing from the command line enters the script).
cat >"$out/alpha_sweep.gp" <<'EOF'
set datafile separator ','
set key top left spacing 1.3 noenhanced
set grid lc rgb '#d0d0d0' lw 1
set border lc rgb '#404040'
set logscale x 10
set xlabel 'inner step size α'
set format x '%g'
set xrange [0.0009:0.056]
do for [fmt in 'svg png'] {
  if (fmt eq 'svg') { set terminal svg size 720,480 dynamic font 'sans,13' background rgb 'white' }
  if (fmt eq 'png') {
    if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 900,600 font 'sans,12' background rgb 'white' } \
    else { set terminal png size 900,600 truecolor background rgb 'white' }
  }
  set output 'dv.'.fmt
  set logscale y 10
  set format y '10^{%T}'
  set ylabel 'max_θ of the task mean'
  set title 'q-curve tasks, r = 10: FOM bias D² and exact-gradient V² (dashed: the §3.1 bounds, sum over j = 1..r)' font ',11' noenhanced
  plot 'alpha_sweep.csv' using 1:2 skip 1 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'D² (true)', \
       'alpha_sweep.csv' using 1:3 skip 1 with linespoints lw 2 pt 5 lc rgb '#d62728' title 'V² (true)', \
       'alpha_sweep.csv' using 1:4 skip 1 with lines dt 2 lw 1.5 lc rgb '#1f77b4' title 'D² bound', \
       'alpha_sweep.csv' using 1:5 skip 1 with lines dt 2 lw 1.5 lc rgb '#d62728' title 'V² bound'
  set output
  unset logscale y
  set format y '%g'
  set yrange [0:1.05]
  set ylabel 'optimal q'
  set title 'optimal q: theory (κ = ½ rule) vs experiment (seed 1; bars: min–max over seeds 1–5)' font ',11' noenhanced
  set output 'q.'.fmt
  plot 'alpha_sweep.csv' using 1:6 skip 1 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'theory', \
       'alpha_sweep.csv' using 1:7:11:13 skip 1 with yerrorbars lw 1.5 pt 5 ps 1.2 lc rgb '#d62728' title 'experiment', \
       0.05 with lines dt 3 lc rgb '#808080' title 'smallest q on the grid'
  set output
  unset yrange
}
EOF
if command -v gnuplot >/dev/null; then
  (cd "$out" && gnuplot alpha_sweep.gp)
  echo "plots: $out/dv.svg, $out/q.svg (and .png)"
else
  echo "(no plots: gnuplot is missing; install the Debian package gnuplot-nox; the data are in $summary)"
fi
echo "alpha sweep: ${#seeds[@]} seeds × 10 α × 20 q × 2000 starts × 100 steps in $((SECONDS - start)) s"
