#pragma once
// Omniglot (Lake, Salakhutdinov & Tenenbaum 2015) in the on-disk layout its release unpacks to:
//
//   DIR/images_background/<Alphabet>/<character>/<drawing>.png    30 alphabets, 964 characters: meta-training
//   DIR/images_evaluation/<Alphabet>/<character>/<drawing>.png    20 alphabets, 659 characters: held out
//
// (images_background.zip and images_evaluation.zip of the official repository's python/ folder; DIR may also
// be a folder holding omniglot/images_background). Each drawing is a 105×105 1-bit PNG, black strokes on
// white; 20 drawings per character. Any PNG the decoder accepts is read (data/png.hpp), turned into ink
// (255 − grey: strokes → 255) and resized to side × side by area averaging (data/glyphs.hpp resize_area).
//
// Order is by byte-wise name (alphabets, characters, drawings), so character and instance indices do not
// depend on the file system. Entries whose name starts with '.' (.DS_Store, ._x.png) are ignored. Anything
// else unexpected — a missing images_* folder, an alphabet with no character folder, a character with no PNG,
// a file that is not *.png, a corrupt PNG, a file where a folder belongs — is a data_error naming the path
// and what was expected there.
#include <cstdint>
#include <string>

#include "data/glyphs.hpp"

namespace bilevel::data {

struct OmniglotOptions {
  int64_t side = 28;         // images are resized to side × side
  bool evaluation = true;    // also read images_evaluation (needed for the standard split)
  PngLimits limits;          // per drawing
  int64_t max_images = 200000;  // refuse folders with more drawings (Omniglot has 32460) before decoding
};

// True when `dir` (or dir/omniglot) holds an images_background folder.
bool looks_like_omniglot(const std::string& dir);

// Loads both folders (decoding runs in parallel; the result does not depend on the thread count). Characters
// of images_evaluation are marked evaluation. Alphabets are named by their folder relative to the Omniglot
// directory ("images_background/Latin"); characters by their own folder name ("character01").
GlyphSet load_omniglot(const std::string& dir, const OmniglotOptions& options = {});

}  // namespace bilevel::data
