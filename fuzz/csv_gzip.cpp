// CSV tables gzip-compressed (scikit-learn's digits.csv.gz): the fuzzer's bytes as they are when they already
// are a gzip stream, else compressed first; a compressed table reads exactly as the plain one.
#include "data/csv.hpp"
#include "fuzz_input.hpp"

using namespace bilevel;

namespace {
// The table, or nothing (data_error) — with the message, which must not depend on the compression
// except for the compressed stream's own errors.
bool read(std::string_view bytes, data::CsvTable& t) {
  return fuzz::accepted([&] {
    data::ByteInput in = data::ByteInput::from_memory(bytes, "fuzz.csv");
    data::CsvOptions o;
    o.float_range = true;
    t = data::read_csv(in, o);
  });
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw = fuzz::bytes_of(data, size);
  if (fuzz::is_gzip(raw)) {
    data::CsvTable t;
    read(raw, t);
    return 0;
  }
  data::CsvTable plain, packed;
  const bool plain_ok = read(raw, plain);
  const bool packed_ok = read(fuzz::gzip(raw), packed);
  BILEVEL_FUZZ_CHECK(plain_ok == packed_ok);
  if (plain_ok) BILEVEL_FUZZ_CHECK(plain.values == packed.values && plain.header == packed.header);
  return 0;
}
