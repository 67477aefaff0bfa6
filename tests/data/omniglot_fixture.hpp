#pragma once
// A small folder in Omniglot's on-disk layout (images_background/<Alphabet>/<character>/*.png and
// images_evaluation/…), written as real 105×105 1-bit PNGs, black strokes on white. Character c draws a few
// fixed random blocks (its "strokes"); drawing i moves each block by a small random offset, so instances of one
// character look alike and characters differ: a few-shot learner can do better than chance on it.
#include <cstdint>
#include <string>

#include "data/png.hpp"
#include "data/png_fixtures.hpp"
#include "tensor/rng.hpp"

namespace bilevel::testing {

struct TinyOmniglot {
  int background_alphabets = 2, evaluation_alphabets = 2;
  int characters_per_alphabet = 4;
  int instances = 6;
  uint64_t seed = 1;
};

inline data::GrayImage tiny_omniglot_drawing(int64_t character, int64_t instance, uint64_t seed) {
  data::GrayImage img;
  img.width = img.height = 105;
  img.pixels.assign(105 * 105, 255);
  Rng shape(seed, {static_cast<uint64_t>(character)});
  Rng jitter(seed, {static_cast<uint64_t>(character), static_cast<uint64_t>(instance) + 1});
  for (int b = 0; b < 4; ++b) {
    const int64_t x0 = 5 + shape.randint(70), y0 = 5 + shape.randint(70), w = 10 + shape.randint(20),
                  h = 10 + shape.randint(20);
    const int64_t dx = jitter.randint(7) - 3, dy = jitter.randint(7) - 3;
    for (int64_t y = y0 + dy; y < y0 + dy + h; ++y)
      for (int64_t x = x0 + dx; x < x0 + dx + w; ++x)
        if (x >= 0 && x < 105 && y >= 0 && y < 105) img.pixels[static_cast<size_t>(y * 105 + x)] = 0;
  }
  return img;
}

// Writes the folder at `root` (created). Returns the number of characters written.
inline int write_tiny_omniglot(const std::string& root, const TinyOmniglot& o = {}) {
  int c = 0;
  for (int part = 0; part < 2; ++part) {
    const int alphabets = part == 0 ? o.background_alphabets : o.evaluation_alphabets;
    for (int a = 0; a < alphabets; ++a)
      for (int k = 0; k < o.characters_per_alphabet; ++k, ++c)
        for (int i = 0; i < o.instances; ++i) {
          const std::string rel = std::string(part == 0 ? "images_background" : "images_evaluation") + "/Alphabet_" +
                                  std::to_string(part * 100 + a) + "/character" + std::to_string(10 + k) + "/" +
                                  std::to_string(1000 + c) + "_" + std::to_string(10 + i) + ".png";
          write_bytes(root + "/" + rel, data::encode_png(tiny_omniglot_drawing(c, i, o.seed), {data::PngFormat::Color::gray, 1}));
        }
  }
  return c;
}

}  // namespace bilevel::testing
