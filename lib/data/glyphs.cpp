#include "data/glyphs.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/errors.hpp"
#include "tensor/rng.hpp"

namespace bilevel::data {

namespace {
constexpr uint64_t kReptileSplitStream = 0x7265707469ULL;   // "reptile": the character shuffle
constexpr uint64_t kSampleCharactersStream = 0x736865ULL;   // contact-sheet rows

void add_classes(std::vector<GlyphClass>& out, int32_t c, bool rotate) {
  for (int32_t r = 0; r < (rotate ? 4 : 1); ++r) out.push_back(GlyphClass{c, r});
}
}  // namespace

GlyphSet GlyphSet::described(std::string name, std::string description, int64_t side,
                             std::vector<std::string> alphabets, std::vector<GlyphCharacter> characters) {
  BILEVEL_CHECK(side >= 1, "GlyphSet: side must be ≥ 1");
  GlyphSet s;
  s.name = std::move(name);
  s.description = std::move(description);
  s.side = side;
  s.alphabets = std::move(alphabets);
  s.characters = std::move(characters);
  return s;
}

GlyphSet GlyphSet::stored(std::string name, std::string description, int64_t side, std::vector<std::string> alphabets,
                          std::vector<GlyphCharacter> characters, std::vector<uint8_t> pixels) {
  GlyphSet s = described(std::move(name), std::move(description), side, std::move(alphabets), std::move(characters));
  int64_t images = 0;
  for (const auto& c : s.characters) {
    s.first_.push_back(images);
    images += c.instances;
  }
  BILEVEL_CHECK(static_cast<int64_t>(pixels.size()) == images * side * side,
                "GlyphSet::stored: pixel count does not match the characters' instances");
  s.pixels_ = std::move(pixels);
  return s;
}

GlyphSet GlyphSet::drawn(std::string name, std::string description, int64_t side, std::vector<std::string> alphabets,
                         std::vector<GlyphCharacter> characters, std::shared_ptr<const GlyphRenderer> renderer) {
  BILEVEL_CHECK(renderer != nullptr, "GlyphSet::drawn: needs a renderer");
  GlyphSet s = described(std::move(name), std::move(description), side, std::move(alphabets), std::move(characters));
  s.renderer_ = std::move(renderer);
  return s;
}

void GlyphSet::image(int64_t c, int64_t instance, uint8_t* out) const {
  BILEVEL_CHECK(c >= 0 && c < size() && instance >= 0 && instance < characters[static_cast<size_t>(c)].instances,
                "GlyphSet::image: character " + std::to_string(c) + " instance " + std::to_string(instance) +
                    " out of range");
  if (renderer_) {
    renderer_->render(c, instance, side, out);
    return;
  }
  const size_t n = static_cast<size_t>(side * side);
  std::memcpy(out, pixels_.data() + static_cast<size_t>(first_[static_cast<size_t>(c)] + instance) * n, n);
}

int64_t GlyphSet::memory_bytes() const {
  return renderer_ ? renderer_->memory_bytes() : static_cast<int64_t>(pixels_.size());
}

std::string GlyphSplit::describe() const {
  const auto classes = [](int64_t chars, size_t n) {
    const int64_t per = chars > 0 ? static_cast<int64_t>(n) / chars : 0;
    return std::to_string(chars) + " characters" + (per > 1 ? " × " + std::to_string(per) + " rotations = " +
                                                                  std::to_string(n) + " classes" : "");
  };
  return "meta-training " + classes(train_characters, train.size()) + "; held-out " +
         classes(test_characters, test.size());
}

GlyphSplit split_glyphs(const GlyphSet& set, const SplitOptions& o) {
  BILEVEL_CHECK(set.size() >= 2, "split_glyphs: needs at least two characters");
  GlyphSplit s;
  if (o.kind == SplitOptions::Kind::background) {
    for (int32_t c = 0; c < static_cast<int32_t>(set.size()); ++c) {
      const bool eval = set.characters[static_cast<size_t>(c)].evaluation;
      add_classes(eval ? s.test : s.train, c, eval ? o.rotate_test : o.rotate_train);
      ++(eval ? s.test_characters : s.train_characters);
    }
    if (s.train_characters == 0 || s.test_characters == 0) {
      throw option_error(set.name + ": its own background/evaluation split has " +
                         std::to_string(s.train_characters) + " background and " + std::to_string(s.test_characters) +
                         " evaluation characters; both must be non-empty (or use the reptile split)");
    }
    return s;
  }
  if (o.reptile_train < 1 || o.reptile_train >= set.size()) {
    throw option_error("the reptile split's training characters (" + std::to_string(o.reptile_train) +
                       ") must lie in [1, " + std::to_string(set.size() - 1) + "] for " + set.name + " with " +
                       std::to_string(set.size()) + " characters");
  }
  Rng rng(o.seed, {kReptileSplitStream});
  const std::vector<int64_t> perm = rng.permutation(set.size());
  for (int64_t i = 0; i < set.size(); ++i) {
    const bool train = i < o.reptile_train;
    add_classes(train ? s.train : s.test, static_cast<int32_t>(perm[static_cast<size_t>(i)]),
                train ? o.rotate_train : o.rotate_test);
  }
  s.train_characters = o.reptile_train;
  s.test_characters = set.size() - o.reptile_train;
  return s;
}

GrayImage resize_area(const GrayImage& in, int64_t out_w, int64_t out_h) {
  BILEVEL_CHECK(out_w >= 1 && out_h >= 1 && in.width >= 1 && in.height >= 1, "resize_area: empty image");
  // Separable: output pixel j covers [j·s, (j+1)·s) in input pixels, s = in/out; input pixel i contributes its
  // overlap with that interval. weights[j] lists (input index, overlap / s).
  struct Tap {
    int64_t index;
    double weight;
  };
  const auto taps = [](int64_t n_in, int64_t n_out) {
    std::vector<std::vector<Tap>> t(static_cast<size_t>(n_out));
    const double s = static_cast<double>(n_in) / static_cast<double>(n_out);
    for (int64_t j = 0; j < n_out; ++j) {
      const double lo = static_cast<double>(j) * s, hi = static_cast<double>(j + 1) * s;
      for (int64_t i = static_cast<int64_t>(std::floor(lo)); i < n_in && static_cast<double>(i) < hi; ++i) {
        const double overlap = std::min(hi, static_cast<double>(i + 1)) - std::max(lo, static_cast<double>(i));
        if (overlap > 0) t[static_cast<size_t>(j)].push_back({i, overlap / s});
      }
    }
    return t;
  };
  const auto tx = taps(in.width, out_w), ty = taps(in.height, out_h);
  std::vector<double> rows(static_cast<size_t>(in.height * out_w));  // horizontal pass
  for (int64_t y = 0; y < in.height; ++y)
    for (int64_t j = 0; j < out_w; ++j) {
      double v = 0;
      for (const Tap& t : tx[static_cast<size_t>(j)]) v += t.weight * in.at(y, t.index);
      rows[static_cast<size_t>(y * out_w + j)] = v;
    }
  GrayImage out;
  out.width = out_w;
  out.height = out_h;
  out.pixels.resize(static_cast<size_t>(out_w * out_h));
  for (int64_t i = 0; i < out_h; ++i)
    for (int64_t j = 0; j < out_w; ++j) {
      double v = 0;
      for (const Tap& t : ty[static_cast<size_t>(i)]) v += t.weight * rows[static_cast<size_t>(t.index * out_w + j)];
      out.pixels[static_cast<size_t>(i * out_w + j)] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  return out;
}

void rotate_quarter(const uint8_t* src, int64_t side, int quarter_turns, uint8_t* dst) {
  const int k = ((quarter_turns % 4) + 4) % 4;
  const int64_t m = side - 1;
  for (int64_t y = 0; y < side; ++y)
    for (int64_t x = 0; x < side; ++x) {
      // Counter-clockwise by 90°: the pixel at (row y, column x) comes from (x, m − y) of the source.
      int64_t sy = y, sx = x;
      for (int i = 0; i < k; ++i) {
        const int64_t ny = sx, nx = m - sy;
        sy = ny;
        sx = nx;
      }
      dst[y * side + x] = src[sy * side + sx];
    }
}

std::vector<int64_t> sample_characters(const GlyphSet& set, int64_t count, uint64_t seed) {
  std::vector<int64_t> out;
  if (count >= set.size()) {
    for (int64_t c = 0; c < set.size(); ++c) out.push_back(c);
    return out;
  }
  Rng rng(seed, {kSampleCharactersStream});
  std::vector<int64_t> perm = rng.permutation(set.size());
  out.assign(perm.begin(), perm.begin() + count);
  return out;
}

GrayImage contact_sheet(const GlyphSet& set, const std::vector<int64_t>& rows, int64_t columns, int64_t zoom) {
  BILEVEL_CHECK(zoom >= 1 && columns >= 1 && !rows.empty(), "contact_sheet: needs rows, columns ≥ 1, zoom ≥ 1");
  constexpr int64_t gap = 2;
  constexpr uint8_t rule = 170, paper = 255;
  const int64_t cell = set.side * zoom;
  GrayImage sheet;
  sheet.width = columns * (cell + gap) + gap;
  sheet.height = static_cast<int64_t>(rows.size()) * (cell + gap) + gap;
  sheet.pixels.assign(static_cast<size_t>(sheet.width * sheet.height), rule);
  std::vector<uint8_t> img(static_cast<size_t>(set.side * set.side));
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t c = rows[r];
    for (int64_t col = 0; col < columns; ++col) {
      const int64_t y0 = gap + static_cast<int64_t>(r) * (cell + gap), x0 = gap + col * (cell + gap);
      const bool have = col < set.characters[static_cast<size_t>(c)].instances;
      if (have) set.image(c, col, img.data());
      for (int64_t y = 0; y < cell; ++y)
        for (int64_t x = 0; x < cell; ++x) {
          const uint8_t ink = have ? img[static_cast<size_t>((y / zoom) * set.side + x / zoom)] : 0;
          sheet.pixels[static_cast<size_t>((y0 + y) * sheet.width + x0 + x)] = static_cast<uint8_t>(paper - ink);
        }
    }
  }
  return sheet;
}

}  // namespace bilevel::data
