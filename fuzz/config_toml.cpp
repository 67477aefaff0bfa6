// Run config files (`train --config FILE`, TOML): parse_config_toml from memory. Accepted configs are flat
// key → value text; every refusal is an option_error (exit 2), never another exception.
#include <string>

#include "base/config.hpp"
#include "base/errors.hpp"
#include "fuzz_input.hpp"

using namespace bilevel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto cfg = parse_config_toml(fuzz::bytes_of(data, size), "fuzz.toml");
    // Flattening is lossless: as many keys as the file gives (a repeat would have been refused).
    BILEVEL_FUZZ_CHECK(cfg.size() <= size);
  } catch (const option_error&) {
  }
  return 0;
}
