# Shared by the MPI test scripts (sourced; needs $bin and $mpirun): the CLI tests' counters and checks, the
# mpirun command line, and comparisons of run directories without their timing fields.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
mpirun_args=(--oversubscribe)  # more ranks than cores is fine for tests
if [[ $(id -u) -eq 0 ]]; then mpirun_args+=(--allow-run-as-root); fi
# Shared memory between the ranks of this machine; no network probing (quiet and fast in containers).
mpirun_args+=(--mca btl self,vader --mca btl_vader_single_copy_mechanism none)
export OMPI_MCA_rmaps_base_oversubscribe=1
ranks() {  # ranks N ARGS...: bilevel-opt ARGS on N ranks
  local n="$1"
  shift
  "$mpirun" "${mpirun_args[@]}" -np "$n" "$bin" "$@"
}
untimed_curve() { sed -E 's/"(eval_)?seconds":[^,}]*[,]?//g' "$1/curve.jsonl"; }
# result.json without the fields that measure this process (time, resident memory, the ranks' timing).
untimed_result() {
  python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))
for k in ("seconds", "eval_seconds", "wall_seconds", "peak_rss_bytes", "distributed"): r.pop(k, None)
print(json.dumps(r, sort_keys=True))' "$1/result.json"
}
# Every line of a curve is a JSON object (a run killed anywhere leaves whole rows).
curve_parses() {
  python3 -c 'import json,sys
for line in open(sys.argv[1]): json.loads(line)' "$1/curve.jsonl"
}
