// The hanzi stand-in on a hand-written fixture (never the downloaded data): parsing and its bounds, alphabets
// by stroke count, drawings that are deterministic for a seed, differ across instances and seeds, and are
// thread-safe; loading through the manifest's checksums.
#include <doctest/doctest.h>
#include <tbb/parallel_for.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/data_dir.hpp"
#include "data/fake_data.hpp"
#include "data/fewshot.hpp"
#include "data/hanzi.hpp"
#include "data/manifest.hpp"
#include "data/sha256.hpp"

using namespace bilevel;

namespace {

inline doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

// Seven characters in the format `make data` writes (hanzi-writer-data's keys; 1024 grid, y up), out of
// code-point order, one without radStrokes and one with a fractional coordinate as the real data has.
const char* const kFixture =
    R"({"character":"王","medians":[[[250,700],[780,700]],[[300,450],[730,450]],[[512.5,700],[512,80]],[[180,80],[850,80]]],"radStrokes":[0,1,2,3]})"
    "\n"
    R"({"character":"一","medians":[[[100,400],[924,400]]],"radStrokes":[0]})"
    "\n\n"
    R"({"character":"二","medians":[[[250,650],[780,650]],[[120,150],[900,150]]],"radStrokes":[0,1]})"
    "\n"
    R"({"character":"十","medians":[[[100,420],[924,420]],[[512,850],[512,-50]]],"radStrokes":[0,1]})"
    "\n"
    R"({"character":"三","medians":[[[250,750],[780,750]],[[300,430],[730,430]],[[150,100],[880,100]]],"radStrokes":[0,1,2]})"
    "\n"
    R"({"character":"口","medians":[[[220,720],[250,100]],[[240,720],[780,720],[760,120]],[[260,130],[770,130]]],"radStrokes":[0,1,2]})"
    "\n"
    R"({"character":"人","medians":[[[520,820],[500,500],[380,250],[150,60]],[[500,480],[650,250],[880,70]]]})"
    "\n";

std::string write_fixture(const testing::FakeDataDir& d, const std::string& rel = "hanzi/medians.jsonl",
                          const std::string& text = kFixture) {
  d.write_text(rel, text, false);
  return d.path(rel);
}

std::vector<uint8_t> image(const data::GlyphSet& set, int64_t c, int64_t i) {
  std::vector<uint8_t> img(static_cast<size_t>(set.side * set.side));
  set.image(c, i, img.data());
  return img;
}

int64_t index_of(const data::GlyphSet& set, const std::string& ch) {
  for (int64_t c = 0; c < set.size(); ++c)
    if (set.characters[static_cast<size_t>(c)].name == ch) return c;
  return -1;
}

}  // namespace

TEST_CASE("hanzi: the fixture parses; alphabets are stroke counts, every third held out") {
  testing::FakeDataDir d;
  const std::vector<data::HanziCharacter> chars = data::read_hanzi_jsonl(write_fixture(d));
  REQUIRE(chars.size() == 7);
  CHECK(chars[0].character == "王");
  CHECK(chars[0].code_point == 0x738B);
  CHECK(chars[0].medians.size() == 4);
  CHECK(chars[0].medians[2][0][0] == 512.5f);
  CHECK(chars[0].medians[1][1][1] == 450.0f);
  CHECK(chars[0].radical_strokes == std::vector<int32_t>{0, 1, 2, 3});
  CHECK(chars[6].radical_strokes.empty());

  const data::GlyphSet set = data::make_hanzi(chars, {});
  CHECK(set.name == "hanzi");
  CHECK(set.side == 28);
  CHECK(set.alphabets == std::vector<std::string>{"1 stroke", "2 strokes", "3 strokes", "4 strokes"});
  std::vector<std::string> order;
  for (const auto& c : set.characters) order.push_back(c.name);
  CHECK(order == std::vector<std::string>{"一", "三", "二", "人", "十", "口", "王"});  // by code point
  for (const auto& c : set.characters) {
    CAPTURE(c.name);
    CHECK(c.instances == 20);
    CHECK(c.evaluation == (set.alphabets[static_cast<size_t>(c.alphabet)] == "3 strokes"));
  }
  const data::GlyphSplit split = data::split_glyphs(set, {});
  CHECK(split.train_characters == 5);
  CHECK(split.test_characters == 2);

  data::HanziOptions o;
  o.min_strokes = 2;
  o.max_strokes = 3;
  const data::GlyphSet mid = data::make_hanzi(chars, o);
  CHECK(mid.size() == 5);
  CHECK(mid.alphabets == std::vector<std::string>{"2 strokes", "3 strokes"});
  o.min_strokes = 5;
  o.max_strokes = 9;
  CHECK_THROWS_WITH_AS(data::make_hanzi(chars, o), has("no character has 5 to 9 strokes"), option_error);
  o = {};
  o.instances = 0;
  CHECK_THROWS_AS(data::make_hanzi(chars, o), option_error);
}

TEST_CASE("hanzi: drawings are deterministic for a seed and differ across instances and seeds") {
  testing::FakeDataDir d;
  const std::vector<data::HanziCharacter> chars = data::read_hanzi_jsonl(write_fixture(d));
  data::HanziOptions o;
  o.seed = 3;
  const data::GlyphSet a = data::make_hanzi(chars, o), b = data::make_hanzi(chars, o);
  o.seed = 4;
  const data::GlyphSet other_seed = data::make_hanzi(chars, o);
  for (int64_t c = 0; c < a.size(); ++c) {
    CAPTURE(a.characters[static_cast<size_t>(c)].name);
    for (int64_t i = 0; i < 20; ++i) {
      CAPTURE(i);
      const std::vector<uint8_t> img = image(a, c, i);
      CHECK(img == image(b, c, i));             // same seed, separately built: same bytes
      CHECK(img == image(a, c, i));             // and again
      CHECK(img != image(a, c, (i + 1) % 20));  // another drawer
      CHECK(img != image(other_seed, c, i));    // another seed
      int64_t ink = 0, darkest = 0;
      for (uint8_t v : img) {
        ink += v;
        darkest = std::max<int64_t>(darkest, v);
      }
      // Real strokes (the shortest, 一, is ~18 px long and ≥ 1 px wide), not a faint smear, and not a blob.
      CHECK(ink >= 255 * 12);
      CHECK(darkest >= 128);
      CHECK(ink < 255 * 28 * 28 / 3);
    }
  }
  // The same character in another set (other characters around it) is drawn the same: keyed by code point.
  std::vector<data::HanziCharacter> two(chars.begin(), chars.begin() + 2);
  o.seed = 3;
  const data::GlyphSet small = data::make_hanzi(two, o);
  CHECK(image(small, index_of(small, "王"), 7) == image(a, index_of(a, "王"), 7));
  // Concurrent rendering gives the same bytes (the renderer is pure).
  std::vector<std::vector<uint8_t>> serial, parallel(140);
  for (int64_t k = 0; k < 140; ++k) serial.push_back(image(a, k % 7, k / 7));
  tbb::parallel_for(int64_t{0}, int64_t{140}, [&](int64_t k) { parallel[static_cast<size_t>(k)] = image(a, k % 7, k / 7); });
  CHECK(serial == parallel);
}

TEST_CASE("hanzi: variation 0 draws the clean strokes, where the medians say") {
  testing::FakeDataDir d;
  data::HanziOptions o;
  o.variation = 0;
  const data::GlyphSet set = data::make_hanzi(data::read_hanzi_jsonl(write_fixture(d)), o);
  const int64_t one = index_of(set, "一"), ten = index_of(set, "十");
  CHECK(image(set, one, 0) == image(set, one, 13));  // no drawer variation left
  // 一 at y = 400 (y up): centred row 14 + 0.8·28·(388 − 400)/1024 ≈ 13.7 → rows 13 and 14 carry the ink.
  const std::vector<uint8_t> img = image(set, one, 0);
  const auto row_ink = [&](int64_t y) {
    int64_t s = 0;
    for (int64_t x = 0; x < 28; ++x) s += img[static_cast<size_t>(y * 28 + x)];
    return s;
  };
  CHECK(row_ink(13) + row_ink(14) > 255 * 18);
  for (int64_t y : {0, 5, 10, 17, 22, 27}) CHECK(row_ink(y) == 0);
  // The horizontal stroke spans x = 100 … 924 → columns ≈ 14 + 0.8·28·(x − 512)/1024 = 5.0 … 23.0.
  CHECK(img[static_cast<size_t>(13 * 28 + 2)] + img[static_cast<size_t>(14 * 28 + 2)] == 0);
  CHECK(img[static_cast<size_t>(13 * 28 + 14)] + img[static_cast<size_t>(14 * 28 + 14)] >= 255);
  // 十's vertical stroke at x = 512 → column 14 (pixel centre 14.5 lies 0.5 from the line): ink on most rows.
  const std::vector<uint8_t> cross = image(set, ten, 0);
  int64_t rows_with_ink = 0;
  for (int64_t y = 0; y < 28; ++y) rows_with_ink += cross[static_cast<size_t>(y * 28 + 14)] > 100;
  CHECK(rows_with_ink >= 18);
  // A larger side draws the same shape larger.
  o.side = 56;
  CHECK(image(data::make_hanzi(data::read_hanzi_jsonl(d.path("hanzi/medians.jsonl")), o), one, 0).size() == 56 * 56);
}

TEST_CASE("hanzi: malformed or out-of-bounds JSON is a data_error naming the file and line") {
  testing::FakeDataDir d;
  const auto fails = [&](const std::string& line, const std::string& message, const data::HanziLimits& lim = {}) {
    CAPTURE(line);
    const std::string path = write_fixture(d, "bad.jsonl", std::string(R"({"character":"一","medians":[[[1,2],[3,4]]]})") +
                                                               "\n" + line + "\n");
    try {
      (void)data::read_hanzi_jsonl(path, lim);
      FAIL("accepted");
    } catch (const data::data_error& e) {
      const std::string what = e.what();
      CHECK(what.starts_with(path + ":2: "));
      CHECK(what.find(message) != std::string::npos);
      CHECK(what.find('\n') == std::string::npos);  // one line
    }
  };
  fails("{not json", "invalid JSON");
  fails("[1, 2]", "not a JSON object");
  fails(R"({"character":"二"})", "no \"medians\" array");
  fails(R"({"character":"二","medians":[]})", "0 strokes, expected 1 to 64");
  fails(R"({"character":"二","medians":[[[1,2]],[[3,4]],[[5,6]]]})", "3 strokes, expected 1 to 2", {2, 128});
  fails(R"({"character":"二","medians":[[]]})", "stroke 0 must be an array of 1 to 128 points");
  fails(R"({"character":"二","medians":[[[1,2],[3,4],[5,6]]]})", "stroke 0 must be an array of 1 to 2 points", {64, 2});
  fails(R"({"character":"二","medians":[[[1,2],[3,"4"]]]})", "not [x, y] with numbers");
  fails(R"({"character":"二","medians":[[[1,2],[3]]]})", "not [x, y] with numbers");
  fails(R"({"character":"二","medians":[[[1,2],[3,1e9]]]})", "outside [-1024, 2048]");
  fails(R"({"character":"二","medians":[[[1,2]]],"radStrokes":[1]})", "\"radStrokes\" holds 1, not a stroke index in [0, 1)");
  fails(R"({"character":"二","medians":[[[1,2]]],"radStrokes":7})", "\"radStrokes\" must list stroke indices");
  fails(R"({"character":"二三","medians":[[[1,2]]]})", "exactly one Unicode character");
  fails("{\"character\":\"\xff\",\"medians\":[[[1,2]]]}", "invalid JSON");  // not UTF-8 at all
  fails(R"({"character":"","medians":[[[1,2]]]})", "exactly one Unicode character");
  fails(R"({"character":"一","medians":[[[1,2]]]})", "character 一 already appears on line 1");
  data::HanziLimits lim;
  lim.max_line_bytes = 20;
  CHECK_THROWS_WITH_AS(data::read_hanzi_jsonl(write_fixture(d), lim), has("medians.jsonl:1: character object of"),
                       data::data_error);
  // A package file has no "character" key: the caller names it.
  CHECK(data::parse_hanzi_json(R"({"strokes":["M 0 0"],"medians":[[[1,2],[3,4]]]})", "永", "永.json").code_point == 0x6C38);
  // Whole-file problems.
  CHECK_THROWS_WITH_AS(data::read_hanzi_jsonl(d.path("none.jsonl")), has("none.jsonl: no such file"), data::data_error);
  CHECK_THROWS_WITH_AS(data::read_hanzi_jsonl(write_fixture(d, "empty.jsonl", "\n\n")), has("no characters"),
                       data::data_error);
  lim = {};
  lim.max_file_bytes = 100;
  CHECK_THROWS_WITH_AS(data::read_hanzi_jsonl(write_fixture(d), lim), has("expected at most 100"), data::data_error);
}

TEST_CASE("hanzi: loading checks the file against the manifest first") {
  testing::FakeDataDir d;
  const std::string path = write_fixture(d);
  const nlohmann::json manifest = {
      {"sources",
       {{{"name", "hanzi-writer-data"},
         {"kind", "npm"},
         {"package", "hanzi-writer-data"},
         {"version", "2.0.1"},
         {"files",
          {{{"generator", "hanzi-medians"},
            {"path", "hanzi/medians.jsonl"},
            {"size", static_cast<int64_t>(std::filesystem::file_size(path))},
            {"sha256", data::sha256_file(path)}}}}}}},
      {"datasets",
       {{{"name", "hanzi"},
         {"source", "hanzi-writer-data"},
         {"format", "strokes"},
         {"files", {{"medians", "hanzi/medians.jsonl"}}},
         {"train", 100},
         {"test", 40},
         {"features", 784},
         {"classes", 7}}}}};
  std::ofstream(d.path("manifest.json")) << manifest.dump(2);
  data::GlyphOptions g;
  g.data_dir = d.dir();
  CHECK(data::resolve_glyph_dataset(g) == "hanzi");  // no Omniglot folder there
  const data::GlyphSet set = data::load_glyphs(g);
  CHECK(set.size() == 7);
  CHECK(set.memory_bytes() > 0);
  CHECK(set.memory_bytes() < 10000);
  d.flip_byte("hanzi/medians.jsonl", 30);
  CHECK_THROWS_WITH_AS(data::load_glyphs(g), has("hanzi/medians.jsonl: corrupt: sha256"), data::data_error);
  CHECK_THROWS_WITH_AS(data::load_glyphs(g), has("make data DATA_DIR="), data::data_error);
  d.truncate("hanzi/medians.jsonl", 10);
  CHECK_THROWS_WITH_AS(data::load_glyphs(g), has("truncated: 10 bytes"), data::data_error);
  g.dataset = "kanji";
  CHECK_THROWS_WITH_AS(data::load_glyphs(g), has("unknown character dataset 'kanji' (valid: auto, hanzi, omniglot)"),
                       option_error);
}

TEST_CASE("hanzi: the repository manifest pins the npm artifact and the generated medians file") {
  const data::Manifest m = data::read_manifest(data::repository_manifest_path());
  const data::ManifestSource* s = m.source("hanzi-writer-data");
  REQUIRE(s != nullptr);
  CHECK(s->describe() == "npm hanzi-writer-data@2.0.1");
  CHECK(s->artifact_sha256 == "72baf3d82b114e60d6e40ea05f24d2262a05cd39d544e2f322ba2fceb7beff15");
  const data::ManifestDataset* h = m.dataset("hanzi");
  REQUIRE(h != nullptr);
  CHECK(h->format == "strokes");
  CHECK(h->classes == 9574);
  const data::ManifestFile* f = m.file("hanzi/medians.jsonl");
  REQUIRE(f != nullptr);
  CHECK(f->size == 6971278);
  CHECK(f->sha256 == "addbd239e701d4c12acf068ff385e313386bb8e21be07f1c8e4a3682ecee8394");
}
