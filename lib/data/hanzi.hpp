#pragma once
// `hanzi`: an Omniglot stand-in drawn from the stroke medians of npm hanzi-writer-data@2.0.1 (9574 Chinese
// characters and CJK radicals, derived from Make Me a Hanzi; Arphic Public License). It is NOT handwriting:
// every character has one source of strokes (a font's), and the 20 "drawers" are synthetic variation.
//
// Source data. Each character has `medians`: per stroke, the centre line of the brush stroke as a polyline of
// [x, y] points on a 1024 grid with y pointing up (x 18…1014, y −96…885 seen), and for most characters
// `radStrokes` (which strokes form the radical). `make data` (datasets/fetch.sh) converts the package's 9574
// JSON files once into one JSON-lines file, hanzi/medians.jsonl: one object per line,
//   {"character":"永","medians":[[[x,y],…],…],"radStrokes":[…]}
// (the package's keys, outlines dropped, sorted by code point), pinned by sha256 in datasets/manifest.json.
//
// Alphabets = stroke counts ("7 strokes"): every character has one, exactly; `radStrokes` only says which
// strokes form the radical, not which radical it is (the package has no radical identity, 556 characters have
// no radStrokes at all), so grouping by radical would need a shape-clustering heuristic. The dataset's own
// split holds out every alphabet whose stroke count is a multiple of `evaluation_every` (3: 3, 6, 9, … strokes,
// 3218 of 9574 characters), so held-out characters span the same range of complexity as the training ones.
//
// Drawing (draw_hanzi): instance i of a character is drawn by "drawer" i, a pure function of (seed, code point,
// i) through counter-based Philox streams:
//   drawer style, shared by all characters of drawer i (seed, i): pen width, slant, size;
//   per character and drawer (seed, code point, i): rotation, shear, anisotropic scale, translation, a smooth
//   random warp of the plane, per-stroke offsets and width factors, and jitter of every median point;
// the jittered polyline is smoothed (Chaikin corner cutting) and drawn as a thick, round-capped, anti-aliased
// line (coverage = clamp(r + ½ − distance, 0, 1) per pixel centre; strokes combine by maximum). `variation`
// scales every random perturbation (0 draws the clean font strokes, identical for all instances).
//
// Memory and time (all 9574 characters): loading parses the 7 MB file in ~0.2 s (+0.1 s for its sha256) and keeps
// ~9 MB of strokes; images are drawn on demand (GlyphSet's renderer), ~40 µs per 28×28 image on average (fewer
// strokes, faster), so no image array is held (9574 × 20 × 28² floats would be 600 MB). Drawings are bit-identical
// for any thread count and order; across machines, libm's sin/exp may differ in the last bit, which can move an
// anti-aliased edge pixel by one grey level.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/glyphs.hpp"

namespace bilevel::data {

struct HanziCharacter {
  std::string character;   // UTF-8, one code point
  uint32_t code_point = 0;
  std::vector<std::vector<std::array<float, 2>>> medians;  // per stroke: points (x, y), y up, 1024 grid
  std::vector<int32_t> radical_strokes;                       // indices into medians (may be empty)
};

// Bounds on everything read from the JSON (checked before anything is allocated from it).
struct HanziLimits {
  int64_t max_strokes = 64;          // the data has at most 33
  int64_t max_points = 128;          // per stroke; the data has at most 38
  double min_coordinate = -1024;     // the data lies in −96 … 1014 (32 points are not integers: 565.5)
  double max_coordinate = 2048;
  int64_t max_line_bytes = 1 << 18;  // one character's JSON object
  int64_t max_file_bytes = int64_t{64} << 20;
  int64_t max_characters = 100000;
};

// One character's JSON object (a hanzi-writer-data file, or a line of medians.jsonl). `character`: the
// character when the object has no "character" key (a package file is named after it); else empty. "strokes"
// (the outlines) and unknown keys are ignored. Throws data_error "<where>: <what> (<what is valid>)".
HanziCharacter parse_hanzi_json(std::string_view text, const std::string& character, const std::string& where,
                                const HanziLimits& limits = {});

// A JSON-lines file as written by `make data`: one object per line (blank lines skipped); characters must be
// distinct. Errors name the file and line.
std::vector<HanziCharacter> read_hanzi_jsonl(const std::string& path, const HanziLimits& limits = {});
// The same from the file's bytes (`path` only names it in messages).
std::vector<HanziCharacter> parse_hanzi_jsonl(std::string_view text, const std::string& path,
                                              const HanziLimits& limits = {});

struct HanziOptions {
  int64_t side = 28;
  int64_t instances = 20;        // drawers per character
  uint64_t seed = 0;             // the drawers: images are a pure function of (seed, character, instance)
  double variation = 1.0;        // scales every random perturbation; 0 = the clean font strokes
  int64_t min_strokes = 1;       // characters with fewer or more strokes are left out
  int64_t max_strokes = 64;
  int64_t evaluation_every = 3;  // alphabets (stroke counts) divisible by this are the held-out part
};

// Draws instance `instance` of `c` as side × side ink bytes (0 background, 255 full stroke).
void draw_hanzi(const HanziCharacter& c, uint64_t seed, int64_t instance, int64_t side, double variation,
                uint8_t* out);

// The GlyphSet of `characters` (those with min_strokes … max_strokes strokes; alphabet = stroke count).
// Throws option_error for invalid options (side, instances < 1, variation < 0, …) or when no character is left.
GlyphSet make_hanzi(std::vector<HanziCharacter> characters, const HanziOptions& options);

// Loads hanzi/medians.jsonl from `data_dir`: checked against the manifest (size, and sha256 when
// verify_checksums) like every dataset file, then parsed with the default limits. Errors name the file and the
// fetch command. `manifest_path` as in locate_manifest.
GlyphSet load_hanzi(const std::string& data_dir, const HanziOptions& options, bool verify_checksums = true,
                    const std::string& manifest_path = "");

}  // namespace bilevel::data
