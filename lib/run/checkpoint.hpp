#pragma once
// checkpoint.json of a run directory: everything `train --resume` needs to continue a run bit for bit — λ, the
// outer optimizer's moments and step count, the counters, the last losses and evaluation, the estimator's
// state (Estimator::save_state: adaptive-q statistics, persistent SGLD chains) and how many bytes of
// curve.jsonl belong to it (rows logged after the checkpoint are cut off on resume and logged again).
//
// No generator position is stored because there is none: every random number of a run is a pure function of
// (seed, purpose, step, task, …) (run/run_state.hpp), so the step is the position.
//
// Exact bits: every double is written as a hex-float string ("0x1.999999999999ap-4") and every tensor as the
// hex of its raw little-endian bytes, so reading back gives the same bits. Written atomically (lib/sys), so
// a SIGKILL leaves the previous checkpoint or the new one, never half of one.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "hypergrad/estimator.hpp"
#include "run/run_state.hpp"

namespace bilevel {

struct Checkpoint {
  RunState state;            // λ, optimizer, counters, recent losses, last evaluation
  EstimatorState estimator;
  int64_t curve_bytes = 0;   // length of curve.jsonl when the checkpoint was written
  nlohmann::json identity;   // problem, method, seed, real: what the run directory's config.json must match
};

// What checkpoint.json holds, as parsed and checked on its own — every field present with its type, tensors in
// this build's precision with at most 4 dimensions and 2^31 elements and hex of exactly their size, the
// optimizer's moments of λ's size, counters and curve_bytes ≥ 0, at most 10 recent losses — before
// read_checkpoint matches it to the run (identity, λ's shape against the problem).
struct CheckpointFields {
  nlohmann::json identity;
  RunCounters counters;
  int64_t curve_bytes = 0;
  Tensor lambda, first_moment, second_moment;
  int64_t steps_taken = 0;
  std::vector<double> recent_losses;
  Metrics last_eval;
  EstimatorState estimator;
};

// The file's text (JSON with exact doubles and tensor bytes) and back. parse_checkpoint throws usage_error
// naming `file` for anything malformed, a number beyond double range included.
std::string checkpoint_text(const CheckpointFields& fields);
CheckpointFields parse_checkpoint(std::string_view text, const std::filesystem::path& file);

// The file name inside a run directory.
inline constexpr const char* checkpoint_file_name = "checkpoint.json";

// Writes DIR/checkpoint.json atomically.
void write_checkpoint(const std::filesystem::path& dir, const RunState& state, const EstimatorState& estimator,
                      int64_t curve_bytes, const nlohmann::json& identity);

// Reads DIR/checkpoint.json into `state` (which must already hold the run's fresh outer optimizer, for its
// configuration) and returns the rest. Throws usage_error naming the file when it is corrupt, belongs to
// another run (identity differs) or does not fit the problem (λ's size).
Checkpoint read_checkpoint(const std::filesystem::path& dir, const RunState& fresh, const nlohmann::json& identity);

// Exact text of a double (hex float) and back; the reader throws usage_error naming `what` for bad text.
std::string exact_double_text(double v);
double exact_double_parse(const std::string& text, const std::string& what);

}  // namespace bilevel
