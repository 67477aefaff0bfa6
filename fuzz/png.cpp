// PNG (few-shot character images): decode_png from memory with the default limits and with small ones.
// Accepted images are within their limits and hold exactly width × height pixels.
#include "data/png.hpp"
#include "fuzz_input.hpp"

using namespace bilevel;

namespace {
void decode(const uint8_t* data, size_t size, const data::PngLimits& limits) {
  data::GrayImage img;
  if (!fuzz::accepted([&] { img = data::decode_png(data, size, limits, "fuzz.png"); })) return;
  BILEVEL_FUZZ_CHECK(img.width >= 1 && img.height >= 1);
  BILEVEL_FUZZ_CHECK(img.width <= limits.max_width && img.height <= limits.max_height);
  BILEVEL_FUZZ_CHECK(static_cast<uint64_t>(img.width) * static_cast<uint64_t>(img.height) <= limits.max_pixels);
  BILEVEL_FUZZ_CHECK(img.pixels.size() == static_cast<size_t>(img.width * img.height));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  decode(data, size, {});
  data::PngLimits small;  // as tight as a test would set them: the limit checks themselves are fuzzed
  small.max_width = 64;
  small.max_height = 64;
  small.max_pixels = 1024;
  small.max_chunk_bytes = 4096;
  decode(data, size, small);
  return 0;
}
