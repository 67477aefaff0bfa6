// Sweep specs (TOML): sweep_spec_parse from memory. Accepted specs expand to a bounded number of runs with
// distinct, path-safe directory names, every run holding its assignments; refusals are option_errors.
#include <set>
#include <string>

#include "base/errors.hpp"
#include "fuzz_input.hpp"
#include "run/sweep_spec.hpp"

using namespace bilevel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  SweepSpec spec;
  try {
    spec = sweep_spec_parse(std::string(fuzz::bytes_of(data, size)), "fuzz.toml");
  } catch (const option_error&) {
    return 0;
  }
  BILEVEL_FUZZ_CHECK(spec.runs.size() <= 100000);
  std::set<std::string> names;
  for (size_t i = 0; i < spec.runs.size(); ++i) {
    const auto& r = spec.runs[i];
    BILEVEL_FUZZ_CHECK(r.index == i);
    BILEVEL_FUZZ_CHECK(names.insert(r.name).second);
    BILEVEL_FUZZ_CHECK(!r.name.empty() && r.name.size() <= 200 && r.name != "." && r.name != "..");
    BILEVEL_FUZZ_CHECK(r.name.find('/') == std::string::npos && r.name.find('\0') == std::string::npos);
  }
  for (int n = 1; n <= 3; ++n) {
    size_t covered = 0;
    for (int k = 1; k <= n; ++k)
      for (size_t i = 0; i < spec.runs.size(); ++i) covered += sweep_shard_has({k, n}, i);
    BILEVEL_FUZZ_CHECK(covered == spec.runs.size());
  }
  return 0;
}
