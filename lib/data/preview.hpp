#pragma once
// `bilevel-opt datasets preview NAME`: a PNG contact sheet of a character dataset, so a person can look at what a
// few-shot problem will train on — rows = characters chosen with a seed, columns = their instances (drawn
// instances for hanzi, the 20 drawings for Omniglot), 28×28 enlarged 3×, dark ink on white.
#include <cstdint>
#include <ostream>
#include <string>

namespace bilevel::data {

struct PreviewParams {
  std::string name;      // "hanzi" | "omniglot"
  std::string data_dir;  // as GlyphOptions::data_dir (for omniglot: the folder holding images_background/)
  std::string out;       // the PNG to write; empty: <name>-preview.png
  int64_t chars = 12;    // rows, 1 … 1000
  uint64_t seed = 0;     // which characters
};

// Loads the dataset, writes the sheet and prints what it wrote (the rows: character, alphabet, held out or
// not). Throws usage_error before loading anything for an unknown name, a bad --chars, or an --out that exists
// and is not a regular file or lies in a missing directory; data_error for unusable data. Writes nothing then.
void datasets_preview(const PreviewParams& params, std::ostream& out);

}  // namespace bilevel::data
