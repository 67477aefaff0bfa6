#include "run/checkpoint.hpp"

#include "base/errors.hpp"
#include "sys/files.hpp"

namespace bilevel {

namespace fs = std::filesystem;

void write_checkpoint(const fs::path& dir, const RunState& s, const EstimatorState& est, int64_t curve_bytes,
                      const nlohmann::json& identity) {
  CheckpointFields f;
  f.identity = identity;
  f.counters = s.counters;
  f.curve_bytes = curve_bytes;
  f.lambda = s.lambda;
  f.first_moment = s.optimizer.first_moment();
  f.second_moment = s.optimizer.second_moment();
  f.steps_taken = s.optimizer.steps_taken();
  f.recent_losses = s.recent_losses;
  f.last_eval = s.last_eval;
  f.estimator = est;
  sys::write_file_atomic(dir / checkpoint_file_name, checkpoint_text(f));
}

Checkpoint read_checkpoint(const fs::path& dir, const RunState& fresh, const nlohmann::json& identity) {
  const fs::path file = dir / checkpoint_file_name;
  CheckpointFields f = parse_checkpoint(sys::read_file(file), file);
  auto fail = [&](const std::string& what) {
    return usage_error(file.string() + ": " + what + " (not a checkpoint of this run; remove it to start over)");
  };
  if (f.identity != identity) {
    throw fail("made by " + f.identity.dump() + ", but the run directory's config.json says " + identity.dump());
  }
  if (f.lambda.shape() != fresh.lambda.shape()) {
    throw fail("λ of shape " + f.lambda.shape().str() + ", the problem's is " + fresh.lambda.shape().str());
  }
  Checkpoint c{fresh, std::move(f.estimator), f.curve_bytes, identity};
  c.state.counters = f.counters;
  c.state.lambda = std::move(f.lambda);
  c.state.optimizer.restore(f.first_moment, f.second_moment, f.steps_taken);
  c.state.recent_losses = std::move(f.recent_losses);
  c.state.last_eval = std::move(f.last_eval);
  return c;
}

}  // namespace bilevel
