// Hanzi stroke medians (hanzi/medians.jsonl, one character's JSON object per line): parse_hanzi_jsonl from
// memory, then every accepted character is drawn once, so coordinates that pass the parser's bounds are also
// safe for the rasteriser.
#include <cmath>
#include <set>
#include <vector>

#include "data/hanzi.hpp"
#include "fuzz_input.hpp"

using namespace bilevel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  data::HanziLimits limits;
  limits.max_characters = 64;  // drawing below stays fast
  std::vector<data::HanziCharacter> chars;
  if (!fuzz::accepted([&] { chars = data::parse_hanzi_jsonl(fuzz::bytes_of(data, size), "fuzz.jsonl", limits); })) {
    return 0;
  }
  BILEVEL_FUZZ_CHECK(!chars.empty() && static_cast<int64_t>(chars.size()) <= limits.max_characters);
  std::set<uint32_t> seen;
  std::vector<uint8_t> ink(16 * 16);
  for (const auto& c : chars) {
    BILEVEL_FUZZ_CHECK(seen.insert(c.code_point).second);
    BILEVEL_FUZZ_CHECK(!c.character.empty());
    BILEVEL_FUZZ_CHECK(static_cast<int64_t>(c.medians.size()) <= limits.max_strokes);
    for (const auto& stroke : c.medians) {
      BILEVEL_FUZZ_CHECK(static_cast<int64_t>(stroke.size()) <= limits.max_points);
      for (const auto& p : stroke) {
        for (float v : p) BILEVEL_FUZZ_CHECK(std::isfinite(v) && v >= limits.min_coordinate && v <= limits.max_coordinate);
      }
    }
    for (int32_t r : c.radical_strokes) BILEVEL_FUZZ_CHECK(r >= 0 && static_cast<size_t>(r) < c.medians.size());
    data::draw_hanzi(c, 1, 0, 16, 1.0, ink.data());
  }
  return 0;
}
