// IDX reader: raw and gzip files round-trip; every kind of damage is an error naming the file and what was
// expected, never a crash and never fewer examples.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "data/address_space_limit.hpp"
#include "data/data_dir.hpp"
#include "data/fake_data.hpp"
#include "data/idx.hpp"

using namespace bilevel;

namespace {
std::vector<uint8_t> ramp(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 37) & 0xff);
  return v;
}
}  // namespace

TEST_CASE("idx: raw and gzip files round-trip") {
  testing::FakeDataDir d;
  const std::vector<uint8_t> img = ramp(5 * 3 * 4);
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const std::string p = d.path(gz ? "x.idx.gz" : "x.idx");
    data::write_idx(p, {5, 3, 4}, img, gz);
    const data::IdxArray a = data::read_idx(p, {5, 3, 4});
    CHECK(a.dims == std::vector<int64_t>{5, 3, 4});
    CHECK(a.data == img);
    CHECK(data::read_idx(p).dims == std::vector<int64_t>{5, 3, 4});  // any shape accepted without expectations
  }
  // Raw means raw: header 4 + 3·4 bytes, then the data.
  CHECK(std::filesystem::file_size(d.path("x.idx")) == 16 + img.size());
  // A 1-D labels file.
  data::write_idx(d.path("y.idx"), {7}, ramp(7), false);
  CHECK(data::read_idx(d.path("y.idx"), {7}).data == ramp(7));
}

TEST_CASE("idx: missing, truncated, wrong magic, wrong dimensions, trailing bytes, corrupt gzip") {
  testing::FakeDataDir d;
  const std::vector<uint8_t> img = ramp(20 * 8 * 8);
  data::write_idx(d.path("raw"), {20, 8, 8}, img, false);
  data::write_idx(d.path("z.gz"), {20, 8, 8}, img, true);
  const std::string hint = data::fetch_command(d.dir());

  SUBCASE("missing") {
    CHECK_THROWS_WITH_AS(data::read_idx(d.path("nope"), {20, 8, 8}, hint),
                         doctest::Contains("nope: missing (expected an IDX file of 20×8×8"), data::data_error);
    CHECK_THROWS_WITH(data::read_idx(d.path("nope"), {20, 8, 8}, hint), doctest::Contains("make data DATA_DIR="));
  }
  SUBCASE("truncated raw file: names the bytes needed and found") {
    d.truncate("raw", 16 + 700);
    CHECK_THROWS_WITH_AS(data::read_idx(d.path("raw"), {20, 8, 8}, hint),
                         doctest::Contains("truncated: the data (20×8×8) needs 1280 bytes, the file ends after 700"),
                         data::data_error);
  }
  SUBCASE("truncated inside the header") {
    d.truncate("raw", 6);
    CHECK_THROWS_WITH_AS(data::read_idx(d.path("raw"), {20, 8, 8}, hint), doctest::Contains("truncated"),
                         data::data_error);
  }
  SUBCASE("truncated gzip file") {
    const auto size = static_cast<int64_t>(std::filesystem::file_size(d.path("z.gz")));
    d.truncate("z.gz", size / 2);
    CHECK_THROWS_WITH_AS(data::read_idx(d.path("z.gz"), {20, 8, 8}, hint), doctest::Contains("z.gz"), data::data_error);
  }
  SUBCASE("corrupt gzip stream (a flipped byte in the compressed data) is caught by zlib's checks") {
    d.flip_byte("z.gz", static_cast<int64_t>(std::filesystem::file_size(d.path("z.gz"))) / 2);
    CHECK_THROWS_WITH_AS(data::read_idx(d.path("z.gz"), {20, 8, 8}, hint), doctest::Contains("z.gz"), data::data_error);
  }
  SUBCASE("wrong magic: says what it found and what an IDX file starts with") {
    d.flip_byte("raw", 2);
    CHECK_THROWS_WITH_AS(data::read_idx(d.path("raw"), {20, 8, 8}, hint),
                         doctest::Contains("magic 00 00 f7 03, expected 00 00 08"), data::data_error);
  }
  SUBCASE("other dimensions than expected: fewer examples is an error, not a smaller dataset") {
    CHECK_THROWS_WITH_AS(data::read_idx(d.path("raw"), {60000, 8, 8}, hint),
                         doctest::Contains("header says 20×8×8, expected 60000×8×8"), data::data_error);
    CHECK_THROWS_WITH_AS(data::read_idx(d.path("raw"), {20, 64}, hint), doctest::Contains("expected 20×64"),
                         data::data_error);
  }
  SUBCASE("trailing bytes") {
    std::ofstream(d.path("raw"), std::ios::app | std::ios::binary) << "xyz";
    CHECK_THROWS_WITH_AS(data::read_idx(d.path("raw"), {20, 8, 8}, hint), doctest::Contains("trailing bytes"),
                         data::data_error);
  }
  SUBCASE("the fetch command is part of every message") {
    d.truncate("raw", 100);
    CHECK_THROWS_WITH(data::read_idx(d.path("raw"), {20, 8, 8}, hint), doctest::Contains("fetch it with `make data"));
  }
}

// Issue 12, finding 5: sizes in an IDX header are input. They are multiplied with overflow checks and checked
// against the file before anything is allocated for them; compressed data is read in pieces.
namespace {
// A raw IDX header (magic and big-endian dimensions) followed by `data_bytes` bytes.
std::string idx_bytes(const std::vector<uint32_t>& dims, size_t data_bytes) {
  std::string s{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int sh = 24; sh >= 0; sh -= 8) s += static_cast<char>((d >> sh) & 0xff);
  return s + std::string(data_bytes, '\x07');
}
}  // namespace

TEST_CASE("idx: dimensions whose product overflows 64 bits are refused, not wrapped to an empty array") {
  testing::FakeDataDir d;
  // 2^16 · 2^16 · 2^16 · 2^16 = 2^64 wraps to 0 in int64 arithmetic: the old reader returned 0 data bytes
  // for a header promising 2^64.
  d.write_text("wrap", idx_bytes({65536, 65536, 65536, 65536}, 0), false);
  CHECK_THROWS_WITH_AS(data::read_idx(d.path("wrap")), doctest::Contains("65536×65536×65536×65536 promise more than"),
                       data::data_error);
  d.write_text("big", idx_bytes({0xffffffffu, 0xffffffffu, 0xffffffffu}, 10), false);
  CHECK_THROWS_WITH_AS(data::read_idx(d.path("big")), doctest::Contains("the limit for one data file"),
                       data::data_error);
}

TEST_CASE("idx: a header claiming 21 000 000 or 2 000 000 images allocates nothing for them (raw and gzip)") {
  // 21e6 × 28 × 28 = 16.5 GB and 2e6 × 28 × 28 = 1.6 GB promised by files of 116 bytes. The old reader
  // allocated it all before reading; under a 1 GiB address-space allowance that is std::bad_alloc instead of
  // a data_error. 16.5 GB is beyond the limit for one file; 1.6 GB is within it, but not in the file.
  testing::FakeDataDir d;
  d.write_text("raw21", idx_bytes({21000000, 28, 28}, 100), false);
  d.write_text("z21.gz", idx_bytes({21000000, 28, 28}, 100), true);
  d.write_text("raw2", idx_bytes({2000000, 28, 28}, 100), false);
  d.write_text("z2.gz", idx_bytes({2000000, 28, 28}, 100), true);
  testing::AddressSpaceLimit limit(int64_t(1) << 30);
  for (const char* f : {"raw21", "z21.gz"}) {
    CAPTURE(f);
    CHECK_THROWS_WITH_AS(data::read_idx(d.path(f)),
                         doctest::Contains("IDX header dimensions 21000000×28×28 promise more than 2147483648 bytes"),
                         data::data_error);
  }
  CHECK_THROWS_WITH_AS(data::read_idx(d.path("raw2")),
                       doctest::Contains("truncated: the data (2000000×28×28) needs 1568000000 bytes, the file ends after 100"),
                       data::data_error);
  CHECK_THROWS_WITH_AS(data::read_idx(d.path("raw2"), {2000000, 28, 28}),
                       doctest::Contains("needs 1568000000 bytes, the file ends after 100"), data::data_error);
  CHECK_THROWS_WITH_AS(data::read_idx(d.path("z2.gz")),
                       doctest::Contains("truncated: the data (2000000×28×28) needs 1568000000 bytes, the file ends after 100"),
                       data::data_error);
}

TEST_CASE("idx: bytes after the end of a gzip stream are refused") {
  testing::FakeDataDir d;
  data::write_idx(d.path("z.gz"), {4, 2}, ramp(8), true);
  CHECK(data::read_idx(d.path("z.gz"), {4, 2}).data == ramp(8));
  std::ofstream(d.path("z.gz"), std::ios::app | std::ios::binary) << "junk";  // zlib's gzread ignored this
  CHECK_THROWS_WITH_AS(data::read_idx(d.path("z.gz"), {4, 2}), doctest::Contains("trailing bytes after the end of the gzip stream"),
                       data::data_error);
}
