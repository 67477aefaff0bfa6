#!/usr/bin/env bash
# toy-multimin (HPO-SGLD Figure 1 phenomenon): several inner minima for the same λ.
#
#   1. Landscape: for a grid of L2 weights e^λ and the problem's 16 fixed inner starts, the validation loss
#      L_V(θ_r(λ)) where gradient descent ends (the deterministic BLO objective, one column per start), the
#      fraction of starts that end in the true basin, and the stochastic objective E_p[L_V] (exact, by
#      quadrature) at τ = 0.1 and τ = 0.01.
#   2. Outer optimisation of λ from e^λ = 0.001 by sgld (pathwise and cov) vs exact vs ift-cg vs fo, 5 seeds,
#      150 Adam steps (lr 0.1): final validation loss, mean ± std over seeds.
# Writes OUT/landscape.csv, OUT/final.csv, OUT/tables.md.
# Usage: experiments/sgld/toy_multimin.sh [OUT_DIR]     (about 10 minutes on 2 cores)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../common.sh"
out="${1:-runs/sgld-toy}"
mkdir -p "$out"
threads=${THREADS:-2}

# metrics_at WEIGHT GIBBS_TAU: the evaluation row of λ = log WEIGHT (fo leaves λ where it is: its
# hypergradient is 0 on this problem, λ enters only L_T).
metrics_at() {
  local dir="$out/landscape/w$1-t$2"
  train_once "$dir" --problem toy-multimin --method fo --steps 1 --set l2_init="$1" --set gibbs_tau="$2"
  head -1 "$dir/curve.jsonl"
}

weights=(0.001 0.002 0.005 0.01 0.02 0.05 0.1 0.2 0.5 1)
for m in exact ift-cg fo; do
  for seed in 1 2 3 4 5; do
    train_once "$out/$m-$seed" --problem toy-multimin --method "$m" --steps 150 --seed "$seed" --threads "$threads" \
      --set l2_init=0.001 --set gibbs_tau=0.1 --set outer_lr=0.1
  done
done
for v in pathwise cov; do
  for seed in 1 2 3 4 5; do
    train_once "$out/sgld-$v-$seed" --config "$here/toy_sgld_$v.toml" --seed "$seed" --threads "$threads"
  done
done

{
  echo "## toy-multimin: landscape"
  echo
  echo "Validation loss where inner gradient descent (2000 steps, lr 0.02) ends from each of 16 fixed starts"
  echo "(a₀ ~ N(0, 1), ω₀ ~ U(0, 8)); \"true basin\": the fraction ending at |ω| ≈ 1; E_p[L_V]: the stochastic"
  echo "objective at temperature τ (N = 6), exact by quadrature."
  echo
  header="| e^λ |"
  rule="|---|"
  for r in $(seq -w 0 15); do header+=" r$r |"; rule+="---|"; done
  echo "$header mean | true basin | E_p[L_V], τ = 0.1 | E_p[L_V], τ = 0.01 |"
  echo "$rule---|---|---|---|"
  echo "l2_weight,restart,val_loss" >"$out/landscape.csv"
  echo "l2_weight,val_loss_mean,good_fraction,gibbs_tau_0.1,gibbs_tau_0.01" >"$out/gibbs.csv"
  for w in "${weights[@]}"; do
    a=$(metrics_at "$w" 0.1)
    b=$(metrics_at "$w" 0.01)
    row="| $w |"
    for r in $(seq -w 0 15); do
      v=$(jq -r ".val_loss_r$r" <<<"$a")
      row+=" $(printf '%.3f' "$v") |"
      echo "$w,$r,$v" >>"$out/landscape.csv"
    done
    mean=$(jq -r .val_loss <<<"$a")
    good=$(jq -r .good_fraction <<<"$a")
    g1=$(jq -r .val_loss_gibbs <<<"$a")
    g2=$(jq -r .val_loss_gibbs <<<"$b")
    echo "$row $(printf '%.3f | %.2f | %.4f | %.4f' "$mean" "$good" "$g1" "$g2") |"
    echo "$w,$mean,$good,$g1,$g2" >>"$out/gibbs.csv"
  done
  echo
  echo "## toy-multimin: outer optimisation from e^λ = 0.001 (150 Adam steps, lr 0.1; mean ± std over 5 seeds)"
  echo
  echo "val_loss: mean validation loss of the 16 fixed inner runs at the final λ; E_p[L_V]: the stochastic"
  echo "objective at τ = 0.1; true basin: the fraction of those runs in the true minimum."
  echo
  echo "| method | val_loss | E_p[L_V] (τ = 0.1) | true basin | final e^λ | estimator seconds |"
  echo "|---|---|---|---|---|---|"
  echo "method,seed,val_loss,val_loss_gibbs,good_fraction,l2_weight,seconds,status" >"$out/final.csv"
  for m in sgld-pathwise sgld-cov exact ift-cg fo; do
    for seed in 1 2 3 4 5; do
      jq -r --arg m "$m" --arg s "$seed" \
        '[$m, $s, .final.val_loss, .final.val_loss_gibbs, .final.good_fraction, .final.l2_weight, .seconds, .status] | @csv' \
        "$out/$m-$seed/result.json" | tr -d '"' >>"$out/final.csv"
    done
    awk -F, -v m="$m" '$1 == m {
        n++; for (i = 3; i <= 7; i++) { s[i] += $i; q[i] += $i * $i }
      }
      END {
        for (i = 3; i <= 7; i++) { mu[i] = s[i] / n; sd[i] = sqrt((q[i] - n * mu[i] * mu[i]) / (n - 1) > 0 ? (q[i] - n * mu[i] * mu[i]) / (n - 1) : 0) }
        printf "| %s | %.4f ± %.4f | %.4f ± %.4f | %.2f ± %.2f | %.3f ± %.3f | %.1f |\n", m, mu[3], sd[3], mu[4], sd[4], mu[5], sd[5], mu[6], sd[6], mu[7]
      }' "$out/final.csv"
  done
} | tee "$out/tables.md"
