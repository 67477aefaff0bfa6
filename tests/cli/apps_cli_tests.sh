#!/usr/bin/env bash
# Command-line refusals of the application problems (loss-learning, invariance-learning, inr): out-of-range options
# and missing data are one-line errors with exit 2 that leave nothing behind. Refusals that need the real images
# (an image_size that does not divide 28, more noise than 9/10 on ten classes) run when $BILEVEL_DATA holds MNIST.
set -u
bin="$1"
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
refused() {  # refused NAME PATTERN TRAIN-ARGS...: exit 2, a message matching PATTERN, no run directory
  local name="$1" pattern="$2"
  shift 2
  expect "$name" 2 "$pattern" -- train "$@" --steps 1 --out "$tmp/run"
  if [[ -e "$tmp/run" ]]; then bad "$name left $tmp/run"; rm -rf "$tmp/run"; else ok; fi
}
refused "noise rate above 1" "noise_rate.*1\.5" --problem loss-learning --method exact --set noise_rate=1.5
refused "negative noise rate" "noise_rate" --problem loss-learning --method exact --set noise_rate=-0.1
refused "poly terms" "poly_terms" --problem loss-learning --method exact --set poly_terms=40
refused "rotation range" "true_rotation" --problem invariance-learning --method exact --set true_rotation=200
refused "rotation init" "rotation_init" --problem invariance-learning --method exact --set rotation_init=-5
refused "translation init" "translation_init" --problem invariance-learning --method exact --set translation_init=3
refused "bad transforms" "transforms.*rotation" --problem invariance-learning --method exact --set transforms=shear
refused "image size zero" "image_size" --problem inr --method exact --set image_size=0
refused "omega0" "omega0" --problem inr --method exact --set omega0=0
for p in loss-learning invariance-learning inr; do
  refused "$p without data" "make data" --problem "$p" --method exact --set data_dir="$tmp/nodata"
done
data="${BILEVEL_DATA:-}"
if [[ -n $data && -d $data/mnist ]]; then
  refused "noise without signal" "noise_rate.*below 0\.9" --problem loss-learning --method exact --set data_dir="$data" \
    --set noise_rate=0.95
  refused "image size not a divisor" "image_size.*valid: 4, 7, 14, 28" --problem invariance-learning --method exact \
    --set data_dir="$data" --set image_size=10
  refused "inr image size" "image_size.*valid" --problem inr --method exact --set data_dir="$data" --set image_size=30
  refused "too many test images" "n_test" --problem invariance-learning --method exact --set data_dir="$data" \
    --set n_test=20000
else
  echo "apps_cli_tests: \$BILEVEL_DATA has no mnist; the data-dependent refusals are checked by the unit tests only"
fi
echo "apps cli tests: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
