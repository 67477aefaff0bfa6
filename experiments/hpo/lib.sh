# Shared by experiments/hpo/*.sh (sourced after ../common.sh): a small parallel job queue and the table
# helpers. Plain bash + awk, so the scripts need nothing beyond the binary.

JOBS=${JOBS:-2}
queue=()

# queue_train DIR ARGS…: a `train_once DIR ARGS…` for run_queue.
queue_train() {
  local cmd
  printf -v cmd '%q ' train_once "$@"
  queue+=("$cmd")
}

# queue_search DIR ARGS…: a `search_once DIR ARGS…` (a random-search run) for run_queue.
queue_search() {
  local cmd
  printf -v cmd '%q ' search_once "$@"
  queue+=("$cmd")
}

# Runs the queued commands, JOBS at a time, then empties the queue.
run_queue() {
  local cmd
  for cmd in "${queue[@]}"; do
    while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
    eval "$cmd" &
  done
  wait
  queue=()
}

# num FILE KEY: the first number (or null) stored under "KEY" in a result.json or a curve row.
num() {
  awk -v key="\"$2\"" '{
    i = index($0, key ":"); if (i == 0) next
    s = substr($0, i + length(key) + 1); sub(/^ */, "", s)
    if (match(s, /^-?[0-9.]+([eE][-+]?[0-9]+)?/)) { print substr(s, RSTART, RLENGTH); exit }
    if (s ~ /^null/) { print "nan"; exit }
  }' "$1"
}

# row0 DIR KEY: KEY in the first curve row (the evaluation of the initial λ).
row0() { head -1 "$1/curve.jsonl" | num /dev/stdin "$2"; }

# mean_std SCALE DIGITS V1 V2 …: "mean ± std" (sample std) of the values times SCALE; "–" without values.
mean_std() {
  local scale="$1" digits="$2"
  shift 2
  printf '%s\n' "$@" | awk -v s="$scale" -v d="$digits" '
    $1 != "" && $1 != "nan" { x[n++] = $1 * s }
    END {
      if (n == 0) { printf "–"; exit }
      m = 0; for (i = 0; i < n; i++) m += x[i]; m /= n
      v = 0; for (i = 0; i < n; i++) v += (x[i] - m)^2; v = n > 1 ? sqrt(v / (n - 1)) : 0
      printf "%." d "f ± %." d "f", m, v
    }'
}

# collect PREFIX KEY [row0]: KEY from PREFIX-<seed>/result.json (or curve row 0) for every finished seed.
collect() {
  local prefix="$1" key="$2" where="${3:-final}" d
  for d in "$prefix"-*/; do
    d="${d%/}"
    [[ -f "$d/result.json" ]] || continue
    if [[ $where == row0 ]]; then row0 "$d" "$key"; else num "$d/result.json" "$key"; fi
  done
}

# per_step PREFIX: estimator seconds per outer step, per seed.
per_step() {
  local prefix="$1" d s n
  for d in "$prefix"-*/; do
    d="${d%/}"
    [[ -f "$d/result.json" ]] || continue
    s=$(num "$d/result.json" seconds)
    n=$(num "$d/result.json" steps)
    awk -v s="$s" -v n="$n" 'BEGIN { if (n > 0) printf "%.3f\n", s / n }'
  done
}

# sum_key KEY FILE…: the sum of KEY over result files.
sum_key() {
  local key="$1" f t=0
  shift
  for f in "$@"; do [[ -f $f ]] && t=$(awk -v t="$t" -v v="$(num "$f" "$key")" 'BEGIN { print t + v }'); done
  echo "$t"
}

# failed_runs DIR: run directories (those with a config.json) under DIR whose result.json does not say "ok".
failed_runs() {
  local c d
  while IFS= read -r c; do
    d="$(dirname "$c")"
    if [[ ! -f "$d/result.json" ]]; then echo "$d (no result.json)"; continue; fi
    grep -q '"status": "ok"' "$d/result.json" || echo "$d ($(grep -o '"status": "[a-z]*"' "$d/result.json"))"
  done < <(find "$1" -name config.json | sort)
}

# queue_methods OUT CONFIG: queue one run per seed × entry of $methods ("prefix|label|train arguments") into
# OUT/prefix-seed, with CONFIG, $dataset, the seed as instance seed, and $budget; then run the queue.
queue_methods() {
  local out="$1" config="$2" seed m prefix label args
  for seed in "${seeds[@]}"; do
    for m in "${methods[@]}"; do
      IFS='|' read -r prefix label args <<<"$m"
      # shellcheck disable=SC2086
      queue_train "$out/$prefix-$seed" --config "$config" $args --set dataset="$dataset" \
        --seed "$seed" --set instance_seed="$seed" --budget-cost "$budget" --threads 1
    done
  done
  run_queue
}
