#pragma once
// Character datasets for few-shot classification: alphabets of characters, each character drawn several times
// (Omniglot: 20 people drew each of 1623 characters of 50 alphabets). Two sources fill the same structure:
//
//   omniglot  the Omniglot folders on disk (data/omniglot.hpp): images decoded, inverted and resized at load
//             time and held in memory (1623 × 20 × 28² bytes = 25 MB);
//   hanzi     the stand-in drawn from hanzi-writer-data stroke medians (data/hanzi.hpp): images rendered on
//             demand from ~2 MB of strokes, a pure function of (seed, character, instance).
//
// Either way an image is side × side bytes of *ink*: 0 = background, 255 = full stroke (Omniglot's black
// strokes on white are inverted so that strokes are 1 after scaling, as models expect). The few-shot task
// sampler (data/fewshot.hpp) turns them into tensors.
//
// A *class* of a few-shot task is a character at one of four rotations (GlyphClass): the standard Omniglot
// protocol adds the 90°, 180° and 270° turns of the meta-training characters as new classes. GlyphSplit gives
// the meta-training classes and the held-out classes; they never share a character.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "data/png.hpp"

namespace bilevel::data {

struct GlyphCharacter {
  std::string name;         // Omniglot: the folder name ("character01"); hanzi: the character itself (UTF-8)
  int32_t alphabet = 0;     // index into GlyphSet::alphabets
  int32_t instances = 0;    // how many images of it exist (Omniglot 20; hanzi the `instances` option)
  bool evaluation = false;  // in the dataset's own held-out part (images_evaluation; hanzi evaluation alphabets)
};

// Draws image `instance` of character `character` (side × side ink bytes) on demand. Must be a pure function
// of its arguments and thread-safe (called concurrently for the tasks of a meta-batch).
class GlyphRenderer {
 public:
  virtual ~GlyphRenderer() = default;
  virtual void render(int64_t character, int64_t instance, int64_t side, uint8_t* out) const = 0;
  virtual int64_t memory_bytes() const = 0;
};

class GlyphSet {
 public:
  std::string name;         // "omniglot" | "hanzi"
  std::string description;  // one line: where the data came from
  int64_t side = 0;         // images are side × side
  std::vector<std::string> alphabets;
  std::vector<GlyphCharacter> characters;

  GlyphSet() = default;
  // Images held in memory: character c's instances, in order, then c + 1's; characters[c].instances each.
  static GlyphSet stored(std::string name, std::string description, int64_t side, std::vector<std::string> alphabets,
                         std::vector<GlyphCharacter> characters, std::vector<uint8_t> pixels);
  // Images drawn by `renderer` on demand.
  static GlyphSet drawn(std::string name, std::string description, int64_t side, std::vector<std::string> alphabets,
                        std::vector<GlyphCharacter> characters, std::shared_ptr<const GlyphRenderer> renderer);

  int64_t size() const { return static_cast<int64_t>(characters.size()); }
  // Writes image `instance` of character `c` to out[0 … side²). Requires 0 ≤ c < size() and
  // 0 ≤ instance < characters[c].instances (internal error otherwise). Thread-safe.
  void image(int64_t c, int64_t instance, uint8_t* out) const;
  // Bytes held: stored pixels, or the renderer's data.
  int64_t memory_bytes() const;

 private:
  static GlyphSet described(std::string name, std::string description, int64_t side, std::vector<std::string> alphabets,
                            std::vector<GlyphCharacter> characters);
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> first_;  // stored: offset of character c's first image, in images
  std::shared_ptr<const GlyphRenderer> renderer_;
};

// A few-shot class: character `character` turned counter-clockwise by rotation × 90°.
struct GlyphClass {
  int32_t character = 0;
  int32_t rotation = 0;  // 0..3
  bool operator==(const GlyphClass& o) const { return character == o.character && rotation == o.rotation; }
};

struct SplitOptions {
  enum class Kind {
    background,  // the dataset's own split: Omniglot images_background vs images_evaluation, hanzi by alphabet
    reptile      // Reptile's: all characters shuffled with `seed`, the first reptile_train for meta-training
  };
  Kind kind = Kind::background;
  int64_t reptile_train = 1200;
  uint64_t seed = 0;
  bool rotate_train = true;   // meta-training classes: each character at 0°, 90°, 180°, 270° (×4 classes)
  bool rotate_test = false;   // held-out classes likewise (off in Reptile's and UFOM's protocol)
};

struct GlyphSplit {
  std::vector<GlyphClass> train;  // meta-training classes
  std::vector<GlyphClass> test;   // held-out classes: no character of `train` appears here
  int64_t train_characters = 0, test_characters = 0;
  std::string describe() const;   // "964 characters × 4 rotations = 3856 meta-training classes, 659 held-out"
};

// Requires set.size() ≥ 2. Throws option_error when the split would leave either side empty (reptile_train
// not in [1, size())) or the dataset's own split has no evaluation characters.
GlyphSplit split_glyphs(const GlyphSet& set, const SplitOptions& options);

// ---- image helpers --------------------------------------------------------------------------------------------

// Area-average resampling: each output pixel is the mean of the input over its footprint, with fractional
// overlaps weighted exactly (Omniglot's 105 → 28: 3.75 input pixels per output pixel), rounded to bytes.
// Requires out_w, out_h ≥ 1.
GrayImage resize_area(const GrayImage& in, int64_t out_w, int64_t out_h);

// dst = src (side × side) turned counter-clockwise by quarter_turns × 90°. dst must not alias src.
void rotate_quarter(const uint8_t* src, int64_t side, int quarter_turns, uint8_t* dst);

// `count` distinct characters chosen with `seed` (all of them, in order, when count ≥ size()).
std::vector<int64_t> sample_characters(const GlyphSet& set, int64_t count, uint64_t seed);

// A sheet for people: one row per character of `rows`, its instances 0 … columns−1 left to right (fewer if it
// has fewer), each image magnified `zoom` times, dark ink on white, cells separated by a grey rule.
GrayImage contact_sheet(const GlyphSet& set, const std::vector<int64_t>& rows, int64_t columns, int64_t zoom);

}  // namespace bilevel::data
