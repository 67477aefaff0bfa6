// The Omniglot folder reader on small folders in the real layout, written as real PNG files in several storage
// formats (1-bit grey as Omniglot ships, 8/16-bit grey, palette, RGB interlaced, grey+alpha): order, inversion,
// area resize and the split are exact; every broken layout is a data_error naming the path.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/data_dir.hpp"
#include "data/fake_data.hpp"
#include "data/fewshot.hpp"
#include "data/omniglot.hpp"
#include "data/png_fixtures.hpp"

using namespace bilevel;
using data::PngFormat;

namespace {

inline doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

// Drawing `instance` of the character with global index `c`: white 105×105 with a black 15×15 block at
// column 15c, row 15·instance — at 28² (3.75 input pixels per output pixel) exactly the 4×4 block of ink 255 at
// column 4c, row 4·instance.
data::GrayImage drawing(int c, int instance) {
  data::GrayImage img;
  img.width = img.height = 105;
  img.pixels.assign(105 * 105, 255);
  for (int y = 15 * instance; y < 15 * instance + 15; ++y)
    for (int x = 15 * c; x < 15 * c + 15; ++x) img.pixels[static_cast<size_t>(y * 105 + x)] = 0;
  return img;
}

const PngFormat kFormats[] = {{PngFormat::Color::gray, 1, false},
                              {PngFormat::Color::gray, 8, false},
                              {PngFormat::Color::palette, 4, false},
                              {PngFormat::Color::gray, 16, true},
                              {PngFormat::Color::rgb, 8, true},
                              {PngFormat::Color::gray_alpha, 8, false}};

struct Layout {
  const char* part;
  const char* alphabet;
  const char* character;
};
// Global character order = sorted (part, alphabet, character): background first.
const Layout kLayout[] = {{"images_background", "Alpha", "character01"},
                          {"images_background", "Alpha", "character02"},
                          {"images_background", "Beta", "character01"},
                          {"images_evaluation", "Gamma", "character01"},
                          {"images_evaluation", "Gamma", "character02"}};
constexpr int kInstances = 4;

// Writes the folder under d/<root>. Files are created in reverse order so that directory order is not sorted.
void write_omniglot(const testing::FakeDataDir& d, const std::string& root = "omni") {
  for (int c = 4; c >= 0; --c)
    for (int i = kInstances - 1; i >= 0; --i) {
      const Layout& l = kLayout[c];
      const std::string rel = root + "/" + l.part + "/" + l.alphabet + "/" + l.character + "/" +
                              std::to_string(1000 + 10 * c) + "_" + (i < 9 ? "0" : "") + std::to_string(i + 1) + ".png";
      testing::write_bytes(d.path(rel), data::encode_png(drawing(c, i), kFormats[(c + i) % 6]));
    }
}

}  // namespace

TEST_CASE("omniglot: a generated folder loads in order, inverted and area-resized to 28x28") {
  testing::FakeDataDir d;
  write_omniglot(d);
  CHECK(data::looks_like_omniglot(d.path("omni")));
  CHECK(data::looks_like_omniglot(d.dir()) == false);
  const data::GlyphSet set = data::load_omniglot(d.path("omni"));
  REQUIRE(set.size() == 5);
  CHECK(set.side == 28);
  CHECK(set.alphabets == std::vector<std::string>{"images_background/Alpha", "images_background/Beta",
                                                  "images_evaluation/Gamma"});
  for (int c = 0; c < 5; ++c) {
    CAPTURE(c);
    const data::GlyphCharacter& ch = set.characters[static_cast<size_t>(c)];
    CHECK(ch.name == kLayout[c].character);
    CHECK(set.alphabets[static_cast<size_t>(ch.alphabet)] == std::string(kLayout[c].part) + "/" + kLayout[c].alphabet);
    CHECK(ch.evaluation == (c >= 3));
    CHECK(ch.instances == kInstances);
    std::vector<uint8_t> img(28 * 28);
    for (int i = 0; i < kInstances; ++i) {
      CAPTURE(i);
      set.image(c, i, img.data());
      int wrong = 0;
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) {
          const bool stroke = x >= 4 * c && x < 4 * c + 4 && y >= 4 * i && y < 4 * i + 4;
          wrong += img[static_cast<size_t>(y * 28 + x)] != (stroke ? 255 : 0);
        }
      CHECK(wrong == 0);
    }
  }
  CHECK(set.memory_bytes() == 5 * kInstances * 28 * 28);
  // The data directory may hold the folder as omniglot/; `auto` then picks it, and a smaller side works too.
  testing::FakeDataDir d2;
  write_omniglot(d2, "omniglot");
  data::GlyphOptions g;
  g.data_dir = d2.dir();
  g.side = 14;
  CHECK(data::resolve_glyph_dataset(g) == "omniglot");
  const data::GlyphSet small = data::load_glyphs(g);
  CHECK(small.side == 14);
  std::vector<uint8_t> img(14 * 14);
  small.image(4, 3, img.data());  // block 2×2 at column 8, row 6
  CHECK(img[static_cast<size_t>(6 * 14 + 8)] == 255);
  CHECK(img[static_cast<size_t>(7 * 14 + 9)] == 255);
  CHECK(img[static_cast<size_t>(5 * 14 + 8)] == 0);
}

TEST_CASE("omniglot: background vs evaluation and the Reptile split keep characters apart") {
  testing::FakeDataDir d;
  write_omniglot(d);
  const data::GlyphSet set = data::load_omniglot(d.path("omni"));
  const data::GlyphSplit s = data::split_glyphs(set, {});
  CHECK(s.train_characters == 3);
  CHECK(s.test_characters == 2);
  CHECK(s.train.size() == 12);  // × 4 rotations
  CHECK(s.test.size() == 2);
  for (const auto& c : s.train) CHECK(!set.characters[static_cast<size_t>(c.character)].evaluation);
  for (const auto& c : s.test) {
    CHECK(set.characters[static_cast<size_t>(c.character)].evaluation);
    CHECK(c.rotation == 0);
  }
  CHECK(s.describe() == "meta-training 3 characters × 4 rotations = 12 classes; held-out 2 characters");
  data::SplitOptions r;
  r.kind = data::SplitOptions::Kind::reptile;
  r.reptile_train = 4;
  const data::GlyphSplit rs = data::split_glyphs(set, r);
  CHECK(rs.train.size() == 16);
  CHECK(rs.test.size() == 1);
  r.reptile_train = 5;
  CHECK_THROWS_WITH_AS(data::split_glyphs(set, r), has("must lie in [1, 4]"), option_error);
}

TEST_CASE("omniglot: broken layouts are data_errors naming the path and what was expected") {
  testing::FakeDataDir d;
  CHECK_THROWS_WITH_AS(data::load_omniglot(d.path("nowhere")), has("nowhere: no such directory (expected the Omniglot folder"),
                       data::data_error);
  CHECK_THROWS_WITH_AS(data::load_omniglot(d.dir()), has("images_background: missing"), data::data_error);

  SUBCASE("missing images_evaluation") {
    write_omniglot(d);
    std::filesystem::remove_all(d.path("omni/images_evaluation"));
    CHECK_THROWS_WITH_AS(data::load_omniglot(d.path("omni")), has("omni/images_evaluation: missing"), data::data_error);
    data::OmniglotOptions o;
    o.evaluation = false;
    CHECK(data::load_omniglot(d.path("omni"), o).size() == 3);
  }
  SUBCASE("empty alphabet") {
    write_omniglot(d);
    std::filesystem::create_directories(d.path("omni/images_background/Delta"));
    CHECK_THROWS_WITH_AS(data::load_omniglot(d.path("omni")),
                         has("images_background/Delta: empty alphabet: no character folders"), data::data_error);
  }
  SUBCASE("character without drawings") {
    write_omniglot(d);
    std::filesystem::create_directories(d.path("omni/images_evaluation/Gamma/character03"));
    CHECK_THROWS_WITH_AS(data::load_omniglot(d.path("omni")),
                         has("Gamma/character03: character folder with no *.png drawings"), data::data_error);
  }
  SUBCASE("corrupt PNG") {
    write_omniglot(d);
    const std::string rel = "omni/images_evaluation/Gamma/character02/1040_03.png";
    d.truncate(rel, 50);
    CHECK_THROWS_WITH_AS(data::load_omniglot(d.path("omni")), has(rel + ": corrupt or invalid PNG"), data::data_error);
    // The error is the same whatever order the parallel decoding finished in: the first bad file in order.
    d.truncate("omni/images_background/Alpha/character01/1000_02.png", 20);
    CHECK_THROWS_WITH_AS(data::load_omniglot(d.path("omni")), has("Alpha/character01/1000_02.png: corrupt"), data::data_error);
  }
  SUBCASE("a non-PNG file, and hidden files that are ignored") {
    write_omniglot(d);
    d.write_text("omni/images_background/Alpha/character01/.DS_Store", "x", false);
    d.write_text("omni/images_background/.hidden", "x", false);
    CHECK(data::load_omniglot(d.path("omni")).size() == 5);
    d.write_text("omni/images_background/Beta/character01/notes.txt", "x", false);
    CHECK_THROWS_WITH_AS(data::load_omniglot(d.path("omni")), has("Beta/character01/notes.txt: not a PNG file"),
                         data::data_error);
  }
  SUBCASE("a file where a folder belongs") {
    write_omniglot(d);
    d.write_text("omni/images_background/README", "x", false);
    CHECK_THROWS_WITH_AS(data::load_omniglot(d.path("omni")), has("images_background/README: a file where an alphabet folder"),
                         data::data_error);
  }
  SUBCASE("a PNG larger than the limits") {
    write_omniglot(d);
    data::OmniglotOptions o;
    o.limits.max_width = 100;
    CHECK_THROWS_WITH_AS(data::load_omniglot(d.path("omni"), o), has("declared size 105x105 exceeds"), data::data_error);
    o = {};
    o.max_images = 10;
    CHECK_THROWS_WITH_AS(data::load_omniglot(d.path("omni"), o), has("more than 10 drawings"), data::data_error);
  }
}
