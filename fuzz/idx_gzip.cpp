// IDX files gzip-compressed (Debian dataset-fashion-mnist's *.gz): the fuzzer's bytes as they are when they
// already are a gzip stream (corrupt, truncated, concatenated members, trailing bytes), else compressed
// first, so IDX headers reach the reader through the path where the length is unknown until the end.
#include "data/idx.hpp"
#include "fuzz_input.hpp"

using namespace bilevel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw = fuzz::bytes_of(data, size);
  const std::string bytes = fuzz::is_gzip(raw) ? std::string(raw) : fuzz::gzip(raw);
  data::IdxArray a;
  const bool ok = fuzz::accepted([&] {
    data::ByteInput in = data::ByteInput::from_memory(bytes, "fuzz.idx.gz");
    BILEVEL_FUZZ_CHECK(in.compressed());
    a = data::read_idx(in);
  });
  if (!ok) return 0;
  int64_t total = 1;
  for (int64_t d : a.dims) total *= d;
  BILEVEL_FUZZ_CHECK(static_cast<int64_t>(a.data.size()) == total);
  if (!fuzz::is_gzip(raw)) {  // compressed or not, the same bytes give the same array
    data::ByteInput plain = data::ByteInput::from_memory(raw, "fuzz.idx");
    BILEVEL_FUZZ_CHECK(data::read_idx(plain).data == a.data);
  }
  return 0;
}
