// PNG decoding to 8-bit grey in every colour type, bit depth and interlacing, the encoder that writes them, and
// hostile input: truncation at every length, flipped bytes, lying headers, non-PNG files — always a data_error
// naming the input, never a crash.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/data_dir.hpp"
#include "data/fake_data.hpp"
#include "data/png.hpp"
#include "data/png_fixtures.hpp"

using namespace bilevel;
using data::PngFormat;

namespace {

inline doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

// A w×h image whose values are multiples of 255/(2^d − 1), so a d-bit encoding is lossless.
data::GrayImage test_image(int64_t w, int64_t h, int depth) {
  data::GrayImage img;
  img.width = w;
  img.height = h;
  const int levels = depth >= 8 ? 256 : (1 << depth);
  for (int64_t i = 0; i < w * h; ++i) {
    const int level = static_cast<int>((i * 7 + i / w * 3) % levels);
    img.pixels.push_back(static_cast<uint8_t>(level * 255 / (levels - 1)));
  }
  return img;
}

data::GrayImage decode(const std::vector<uint8_t>& bytes, const data::PngLimits& limits = {}) {
  return data::decode_png(bytes.data(), bytes.size(), limits, "test.png");
}

}  // namespace

TEST_CASE("png: every colour type, bit depth and interlacing decodes back to the grey values") {
  struct Case {
    PngFormat::Color color;
    int depth;
  };
  const std::vector<Case> cases = {
      {PngFormat::Color::gray, 1},       {PngFormat::Color::gray, 2},    {PngFormat::Color::gray, 4},
      {PngFormat::Color::gray, 8},       {PngFormat::Color::gray, 16},   {PngFormat::Color::palette, 1},
      {PngFormat::Color::palette, 2},    {PngFormat::Color::palette, 4}, {PngFormat::Color::palette, 8},
      {PngFormat::Color::gray_alpha, 8}, {PngFormat::Color::gray_alpha, 16}, {PngFormat::Color::rgb, 8},
      {PngFormat::Color::rgb, 16},       {PngFormat::Color::rgba, 8},    {PngFormat::Color::rgba, 16}};
  for (const Case& c : cases)
    for (bool interlaced : {false, true}) {
      CAPTURE(static_cast<int>(c.color));
      CAPTURE(c.depth);
      CAPTURE(interlaced);
      // Odd sizes: rows that end mid-byte at 1/2/4 bits, and Adam7 passes that are empty or partial.
      const data::GrayImage img = test_image(13, 7, c.depth);
      const std::vector<uint8_t> bytes = data::encode_png(img, {c.color, c.depth, interlaced});
      const data::GrayImage back = decode(bytes);
      CHECK(back.width == 13);
      CHECK(back.height == 7);
      CHECK(back.pixels == img.pixels);
    }
  // A 1×1 image and a wide one.
  for (auto [w, h] : {std::pair<int64_t, int64_t>{1, 1}, {300, 2}}) {
    const data::GrayImage img = test_image(w, h, 8);
    CHECK(decode(data::encode_png(img)).pixels == img.pixels);
  }
}

TEST_CASE("png: colour becomes luminance and transparency is composited over white") {
  // RGB 8-bit, 3 pixels: pure red, green, blue → sRGB luminance weights (0.2126, 0.7152, 0.0722) · 255.
  const std::vector<uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255};
  const data::GrayImage g = decode(testing::raw_png(3, 1, 8, 2, rgb));
  REQUIRE(g.pixels.size() == 3);
  CHECK(std::abs(g.pixels[0] - 54) <= 1);
  CHECK(std::abs(g.pixels[1] - 182) <= 1);
  CHECK(std::abs(g.pixels[2] - 18) <= 1);
  // Grey + alpha: black at alpha 0, 128, 255 → white, mid grey, black.
  const std::vector<uint8_t> ga = {0, 0, 0, 128, 0, 255};
  const data::GrayImage a = decode(testing::raw_png(3, 1, 8, 4, ga));
  CHECK(a.pixels == std::vector<uint8_t>{255, 127, 0});
  // A colour palette with tRNS: entry 0 black opaque, 1 white, 2 black fully transparent (→ white).
  const std::vector<testing::RawChunk> chunks = {{"PLTE", {0, 0, 0, 255, 255, 255, 0, 0, 0}}, {"tRNS", {255, 255, 0}}};
  const data::GrayImage p = decode(testing::raw_png(3, 1, 8, 3, {0, 1, 2}, chunks));
  CHECK(p.pixels == std::vector<uint8_t>{0, 255, 255});
  // 1-bit grey, as Omniglot stores it: bits 1 0 1 1 0 → 255 0 255 255 0.
  const data::GrayImage b = decode(testing::raw_png(5, 1, 1, 0, {0xb0}));
  CHECK(b.pixels == std::vector<uint8_t>{255, 0, 255, 255, 0});
}

TEST_CASE("png: damaged and hostile input is a data_error naming it, never a crash") {
  const std::vector<uint8_t> good = data::encode_png(test_image(9, 5, 8));
  REQUIRE(decode(good).pixels.size() == 45);
  // Every truncation: the file is cut somewhere inside a chunk (or before IEND), so it must be refused.
  for (size_t n = 0; n < good.size(); ++n) {
    CAPTURE(n);
    const std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<long>(n));
    CHECK_THROWS_WITH_AS(data::decode_png(cut.data(), cut.size(), {}, "cut.png"), has("cut.png: "), data::data_error);
  }
  // Every single-byte corruption is refused with a data_error: each byte is part of the signature, a chunk
  // length or type, a CRC-covered payload or a CRC (and the zlib stream has its own Adler-32).
  int refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::vector<uint8_t> bad = good;
    bad[i] ^= 0xff;
    try {
      (void)decode(bad);
    } catch (const data::data_error&) {
      ++refused;
    }
  }
  CHECK(refused == static_cast<int>(good.size()));
  // Not a PNG at all.
  const std::string text = "hello, this is not an image";
  CHECK_THROWS_WITH_AS(data::decode_png(reinterpret_cast<const uint8_t*>(text.data()), text.size(), {}, "x.png"),
                       has("x.png: not a PNG file"), data::data_error);
  CHECK_THROWS_WITH_AS(data::decode_png(nullptr, 0, {}, "e.png"), has("e.png: empty file"), data::data_error);
  // A header that declares 100000 × 100000 pixels with a tiny IDAT: refused by the limits before any row buffer.
  const std::vector<uint8_t> liar = testing::raw_png(100000, 100000, 8, 0, {});
  CHECK_THROWS_WITH_AS(decode(liar), has("declared size 100000x100000 exceeds the limit"), data::data_error);
  data::PngLimits small;
  small.max_width = 8;
  CHECK_THROWS_WITH_AS(decode(good, small), has("declared size 9x5 exceeds"), data::data_error);
  small = {};
  small.max_pixels = 44;
  CHECK_THROWS_WITH_AS(decode(good, small), has("exceeds"), data::data_error);
  // A bad IHDR (bit depth 3) and a corrupt IDAT with valid CRC.
  CHECK_THROWS_WITH_AS(decode(testing::raw_png(2, 2, 3, 0, {0, 0})), has("corrupt or invalid PNG"), data::data_error);
  std::vector<uint8_t> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  testing::put_be32(ihdr, 4);
  testing::put_be32(ihdr, 4);
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});
  testing::put_chunk(png, "IHDR", ihdr);
  testing::put_chunk(png, "IDAT", {0x78, 0x9c, 0xff, 0xff, 0xff, 0xff});
  testing::put_chunk(png, "IEND", {});
  CHECK_THROWS_AS(decode(png), data::data_error);
}

TEST_CASE("png: files — missing, not regular, too large, and a good one") {
  testing::FakeDataDir d;
  const data::GrayImage img = test_image(6, 4, 8);
  testing::write_bytes(d.path("a/ok.png"), data::encode_png(img, {PngFormat::Color::gray, 8, true}));
  CHECK(data::read_png(d.path("a/ok.png")).pixels == img.pixels);
  CHECK_THROWS_WITH_AS(data::read_png(d.path("a/none.png")), has("a/none.png: no such file"), data::data_error);
  CHECK_THROWS_WITH_AS(data::read_png(d.path("a")), has("not a regular file"), data::data_error);
  data::PngLimits tiny;
  tiny.max_file_bytes = 10;
  CHECK_THROWS_WITH_AS(data::read_png(d.path("a/ok.png"), tiny), has("more than the limit of 10"), data::data_error);
  // write_png: whole or not at all, errors name the file.
  data::write_png(d.path("a/w.png"), img);
  CHECK(data::read_png(d.path("a/w.png")).pixels == img.pixels);
  CHECK_THROWS_WITH_AS(data::write_png(d.path("missing/w.png"), img), has("missing/"), io_error);
  d.truncate("a/ok.png", 40);
  CHECK_THROWS_WITH_AS(data::read_png(d.path("a/ok.png")), has("a/ok.png: corrupt or invalid PNG"), data::data_error);
}
