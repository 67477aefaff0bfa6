// CSV tables as stored (scikit-learn's iris.csv; a gzip stream when the bytes start with its magic, as
// digits.csv.gz): read_csv from memory with the options the dataset loader uses and with the defaults.
// Accepted tables are rectangular, finite and, when asked, within float range.
#include <cfloat>
#include <cmath>

#include "data/csv.hpp"
#include "fuzz_input.hpp"

using namespace bilevel;

namespace {
void parse(std::string_view bytes, const data::CsvOptions& o) {
  data::CsvTable t;
  const bool ok = fuzz::accepted([&] {
    data::ByteInput in = data::ByteInput::from_memory(bytes, "fuzz.csv");
    t = data::read_csv(in, o);
  });
  if (!ok) return;
  BILEVEL_FUZZ_CHECK(t.rows >= 1 && t.cols >= 1);
  BILEVEL_FUZZ_CHECK(static_cast<int64_t>(t.values.size()) == t.rows * t.cols);
  BILEVEL_FUZZ_CHECK(o.expected_rows < 0 || t.rows == o.expected_rows);
  BILEVEL_FUZZ_CHECK(o.expected_cols < 0 || t.cols == o.expected_cols);
  BILEVEL_FUZZ_CHECK(static_cast<int>(t.header.size()) == o.header_lines);
  for (double v : t.values) BILEVEL_FUZZ_CHECK(std::isfinite(v) && (!o.float_range || std::fabs(v) <= FLT_MAX));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = fuzz::bytes_of(data, size);
  parse(bytes, {});
  data::CsvOptions loader;  // as load_dataset reads iris.csv: one header line, 4 features + label
  loader.header_lines = 1;
  loader.expected_cols = 5;
  loader.float_range = true;
  parse(bytes, loader);
  return 0;
}
