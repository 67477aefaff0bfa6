// ByteInput: the same bytes from a file or from memory, raw or gzip, read the same; a damaged gzip stream,
// bytes after it and more than the decompression cap are errors naming the input.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "data/byte_input.hpp"
#include "data/data_dir.hpp"
#include "data/fake_data.hpp"

using namespace bilevel;

namespace {
std::string gz_bytes(const testing::FakeDataDir& d, const std::string& text) {
  d.write_text("tmp.gz", text, true);
  std::ostringstream bytes;
  bytes << std::ifstream(d.path("tmp.gz"), std::ios::binary).rdbuf();
  return bytes.str();
}
std::string read_all(data::ByteInput& in, size_t piece) {
  std::string out, buf(piece, '\0');
  while (size_t n = in.read(buf.data(), buf.size())) out.append(buf.data(), n);
  return out;
}
std::vector<std::string> lines(data::ByteInput& in) {
  std::vector<std::string> v;
  std::string line;
  while (in.read_line(line)) v.push_back(line);
  return v;
}
}  // namespace

TEST_CASE("byte_input: raw and gzip, file and memory give the same bytes and lines") {
  testing::FakeDataDir d;
  std::string text = "a,b\r\n\nlong:" + std::string(200000, 'x') + "\nlast";  // a line longer than any buffer
  d.write_text("t.txt", text, false);
  d.write_text("t.gz", text, true);
  const std::string packed = gz_bytes(d, text);
  for (int form = 0; form < 4; ++form) {
    CAPTURE(form);
    auto open = [&] {
      switch (form) {
        case 0: return data::ByteInput::open_file(d.path("t.txt"));
        case 1: return data::ByteInput::open_file(d.path("t.gz"));
        case 2: return data::ByteInput::from_memory(text, "mem");
        default: return data::ByteInput::from_memory(packed, "mem.gz");
      }
    };
    data::ByteInput a = open();
    CHECK(a.compressed() == (form % 2 == 1));
    CHECK(a.remaining() == (a.compressed() ? -1 : static_cast<int64_t>(text.size())));
    CHECK(read_all(a, 7) == text);
    CHECK(a.remaining() == (a.compressed() ? -1 : 0));
    data::ByteInput b = open();
    const std::vector<std::string> l = lines(b);
    REQUIRE(l.size() == 4);
    CHECK(l[0] == "a,b");
    CHECK(l[1].empty());
    CHECK(l[2].size() == 200005);
    CHECK(l[3] == "last");
    data::ByteInput c = open();  // lines, then the rest by read(): the read-ahead is not lost
    std::string first;
    REQUIRE(c.read_line(first));
    if (!c.compressed()) CHECK(c.remaining() == static_cast<int64_t>(text.size() - 5));
    CHECK(read_all(c, 1 << 20) == text.substr(5));
  }
  data::ByteInput empty = data::ByteInput::from_memory("", "empty");
  std::string line;
  CHECK_FALSE(empty.read_line(line));
  CHECK(empty.read(&line, 0) == 0);
}

TEST_CASE("byte_input: concatenated gzip members are one stream; anything else after the stream is an error") {
  testing::FakeDataDir d;
  const std::string two = gz_bytes(d, "first,") + gz_bytes(d, "second\n");
  data::ByteInput in = data::ByteInput::from_memory(two, "two.gz");
  CHECK(read_all(in, 3) == "first,second\n");
  for (const std::string& tail : {std::string("junk"), std::string(1, '\0'), std::string("\x1f")}) {
    CAPTURE(tail);
    const std::string bytes = gz_bytes(d, "data\n") + tail;
    data::ByteInput bad = data::ByteInput::from_memory(bytes, "bad.gz");
    CHECK_THROWS_WITH_AS(read_all(bad, 100), doctest::Contains("bad.gz: "), data::data_error);
  }
}

TEST_CASE("byte_input: truncated and corrupt gzip streams, and the decompression cap") {
  testing::FakeDataDir d;
  const std::string packed = gz_bytes(d, std::string(100000, 'z'));
  for (size_t cut : {size_t(2), size_t(10), packed.size() / 2, packed.size() - 1}) {
    CAPTURE(cut);
    data::ByteInput in = data::ByteInput::from_memory(std::string_view(packed).substr(0, cut), "cut.gz", "`make data`");
    CHECK_THROWS_WITH_AS(read_all(in, 4096), doctest::Contains("cut.gz: "), data::data_error);
  }
  std::string flipped = packed;
  flipped[packed.size() - 6] = static_cast<char>(flipped[packed.size() - 6] ^ 0xff);  // inside the CRC
  data::ByteInput bad = data::ByteInput::from_memory(flipped, "crc.gz", "`make data`");
  CHECK_THROWS_WITH_AS(read_all(bad, 4096),
                       doctest::Contains("crc.gz: corrupt compressed data (zlib: incorrect data check); fetch it with `make data`"),
                       data::data_error);
  // 100 000 bytes from 100-odd: refused past the cap, at any read size.
  for (size_t piece : {size_t(1000), size_t(1) << 20}) {
    data::ByteInput capped = data::ByteInput::from_memory(packed, "bomb.gz");
    capped.limit_decompressed(50000);
    CHECK_THROWS_WITH_AS(read_all(capped, piece), doctest::Contains("bomb.gz: decompresses to more than 50000 bytes"),
                         data::data_error);
  }
}

TEST_CASE("byte_input: a missing file or a directory is 'missing', with what was expected and the fetch hint") {
  testing::FakeDataDir d;
  CHECK_THROWS_WITH_AS(data::ByteInput::open_file(d.path("nope"), "`make data`", " (expected an IDX file)"),
                       doctest::Contains("nope: missing (expected an IDX file); fetch it with `make data`"), data::data_error);
  CHECK_THROWS_WITH_AS(data::ByteInput::open_file(d.dir()), doctest::Contains(": missing"), data::data_error);
}
