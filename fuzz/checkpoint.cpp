// checkpoint.json of a run directory (`train --resume`): parse_checkpoint from memory — the reader's whole
// contact with the file's bytes; matching the fields to the run (identity, λ's shape against the problem,
// OuterOptimizer::restore) needs the problem and is not reached here. Accepted files hold consistent sizes
// and round-trip exactly: written back with checkpoint_text and parsed again they give the same text.
// Refusals are usage_errors naming the file; anything else escapes as a crash.
#include <string>

#include "base/errors.hpp"
#include "fuzz_input.hpp"
#include "run/checkpoint.hpp"

using namespace bilevel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckpointFields f;
  try {
    f = parse_checkpoint(fuzz::bytes_of(data, size), "run/checkpoint.json");
  } catch (const usage_error& e) {
    BILEVEL_FUZZ_CHECK(std::string(e.what()).rfind("run/checkpoint.json", 0) == 0);
    return 0;
  }
  BILEVEL_FUZZ_CHECK(f.first_moment.numel() == f.lambda.numel() && f.second_moment.numel() == f.lambda.numel());
  BILEVEL_FUZZ_CHECK(f.recent_losses.size() <= 10 && f.curve_bytes >= 0 && f.steps_taken >= 0);
  BILEVEL_FUZZ_CHECK(f.counters.step >= 0 && f.counters.grad_evals >= 0 && f.counters.hvps >= 0);
  const std::string text = checkpoint_text(f);
  BILEVEL_FUZZ_CHECK(checkpoint_text(parse_checkpoint(text, "run/checkpoint.json")) == text);
  return 0;
}
