// IDX reader: raw and gzip files round-trip; every kind of damage is an error naming the file and what was
// expected, never a crash and never fewer examples.
#include <doctest/doctest.h>

#include <string>
#include <vector>

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
