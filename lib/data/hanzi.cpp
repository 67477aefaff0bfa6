#include "data/hanzi.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>

#include "base/errors.hpp"
#include "data/data_dir.hpp"
#include "data/datasets.hpp"
#include "data/manifest.hpp"
#include "tensor/rng.hpp"

namespace bilevel::data {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kDrawerStyleStream = 0x68616e7a6931ULL;  // "hanzi1": drawer i's style, shared by characters
constexpr uint64_t kDrawingStream = 0x68616e7a6932ULL;      // "hanzi2": one character by one drawer

// The code point of `s` if it is exactly one well-formed UTF-8 sequence (no surrogates, no overlongs), else 0.
uint32_t single_code_point(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  if (n == 0) return 0;
  size_t len = p[0] < 0x80 ? 1 : (p[0] >> 5) == 0x6 ? 2 : (p[0] >> 4) == 0xe ? 3 : (p[0] >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || len != n) return 0;
  uint32_t cp = len == 1 ? p[0] : p[0] & (0x7f >> len);
  for (size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0) return 0;
  return cp;
}

std::string hex_code_point(uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", cp);
  return buf;
}

// ---- drawing ----------------------------------------------------------------------------------------------

struct Pt {
  double x, y;
};

// Chaikin corner cutting, endpoints kept: each pass replaces every inner corner by two points at ¼ and ¾ of
// its segments, so jittered medians become smooth pen paths.
std::vector<Pt> smooth(const std::vector<Pt>& p, int passes) {
  std::vector<Pt> cur = p;
  for (int k = 0; k < passes && cur.size() >= 3; ++k) {
    std::vector<Pt> next{cur.front()};
    for (size_t i = 0; i + 1 < cur.size(); ++i) {
      const Pt a = cur[i], b = cur[i + 1];
      if (i > 0) next.push_back({0.75 * a.x + 0.25 * b.x, 0.75 * a.y + 0.25 * b.y});
      if (i + 2 < cur.size()) next.push_back({0.25 * a.x + 0.75 * b.x, 0.25 * a.y + 0.75 * b.y});
    }
    next.push_back(cur.back());
    cur.swap(next);
  }
  return cur;
}

// Ink of a round-capped segment a–b of half width r (pixels) into ink[side²], combined by maximum. Only pixels
// whose centre (x + ½, y + ½) can lie within r + ½ of the segment are visited.
void stroke_segment(Pt a, Pt b, float r, float opacity, int64_t side, float* ink) {
  const double reach = r + 0.5;
  const auto lo = [&](double v) { return std::max<int64_t>(0, static_cast<int64_t>(std::ceil(v - reach - 0.5))); };
  const auto hi = [&](double v) { return std::min<int64_t>(side - 1, static_cast<int64_t>(std::floor(v + reach - 0.5))); };
  const int64_t x0 = lo(std::min(a.x, b.x)), x1 = hi(std::max(a.x, b.x));
  const int64_t y0 = lo(std::min(a.y, b.y)), y1 = hi(std::max(a.y, b.y));
  const auto dx = static_cast<float>(b.x - a.x), dy = static_cast<float>(b.y - a.y);
  const float len2 = dx * dx + dy * dy, inv_len2 = len2 > 0 ? 1.0f / len2 : 0.0f;
  const float edge = r + 0.5f;
  for (int64_t y = y0; y <= y1; ++y) {
    const float cy = static_cast<float>(static_cast<double>(y) + 0.5 - a.y);
    for (int64_t x = x0; x <= x1; ++x) {
      const float cx = static_cast<float>(static_cast<double>(x) + 0.5 - a.x);
      const float t = std::clamp((cx * dx + cy * dy) * inv_len2, 0.0f, 1.0f);
      const float ex = cx - t * dx, ey = cy - t * dy, d2 = ex * ex + ey * ey;
      if (d2 >= edge * edge) continue;
      const float cover = std::min(edge - std::sqrt(d2), 1.0f) * opacity;
      float& v = ink[y * side + x];
      v = std::max(v, cover);
    }
  }
}

class HanziRenderer final : public GlyphRenderer {
 public:
  HanziRenderer(std::vector<HanziCharacter> chars, uint64_t seed, double variation)
      : chars_(std::move(chars)), seed_(seed), variation_(variation) {}
  void render(int64_t c, int64_t instance, int64_t side, uint8_t* out) const override {
    draw_hanzi(chars_[static_cast<size_t>(c)], seed_, instance, side, variation_, out);
  }
  int64_t memory_bytes() const override {
    int64_t bytes = 0;
    for (const auto& c : chars_) {
      bytes += static_cast<int64_t>(sizeof(HanziCharacter) + c.character.capacity() +
                                    c.radical_strokes.capacity() * sizeof(int32_t));
      for (const auto& s : c.medians) bytes += static_cast<int64_t>(sizeof(s) + s.capacity() * sizeof(s[0]));
    }
    return bytes;
  }

 private:
  std::vector<HanziCharacter> chars_;
  uint64_t seed_;
  double variation_;
};

}  // namespace

void draw_hanzi(const HanziCharacter& c, uint64_t seed, int64_t instance, int64_t side, double v, uint8_t* out) {
  const double s = static_cast<double>(side);
  // Drawer style (shared across characters): pen width in pixels at 28², slant, overall size.
  Rng style(seed, {kDrawerStyleStream, static_cast<uint64_t>(instance)});
  const double pen = (1.35 + v * style.uniform(-0.3, 0.3)) * s / 28.0;
  const double slant = v * 0.10 * style.normal();
  const double size = 1.0 + v * style.uniform(-0.08, 0.04);
  // This drawing: global affine, smooth warp, per-stroke and per-point noise (lengths in em units, 1 = 1024).
  Rng rng(seed, {kDrawingStream, c.code_point, static_cast<uint64_t>(instance)});
  const double rot = v * 0.07 * std::clamp(rng.normal(), -2.5, 2.5);
  const double shear = slant + v * 0.05 * rng.normal();
  const double sx = size * std::exp(v * 0.05 * rng.normal()), sy = size * std::exp(v * 0.05 * rng.normal());
  const double tx = v * 0.035 * std::clamp(rng.normal(), -2.5, 2.5) * s;
  const double ty = v * 0.035 * std::clamp(rng.normal(), -2.5, 2.5) * s;
  double warp[2][4];  // per axis: amplitude, frequency in x, frequency in y, phase
  for (auto& w : warp) {
    w[0] = v * 0.02 * rng.normal();
    w[1] = rng.uniform(-1.5, 1.5);
    w[2] = rng.uniform(-1.5, 1.5);
    w[3] = rng.uniform(0, 2 * std::numbers::pi);
  }
  const double fill = 0.80 * s;  // the 1024 em box spans 80% of the image
  const double cr = std::cos(rot), sr = std::sin(rot);
  const auto to_pixels = [&](double x, double y) {  // centred em units (y down) → pixel coordinates
    const double wx = x + warp[0][0] * std::sin(2 * std::numbers::pi * (warp[0][1] * x + warp[0][2] * y) + warp[0][3]);
    const double wy = y + warp[1][0] * std::sin(2 * std::numbers::pi * (warp[1][1] * x + warp[1][2] * y) + warp[1][3]);
    const double ax = sx * wx + shear * sy * wy, ay = sy * wy;
    return Pt{s / 2 + tx + fill * (cr * ax - sr * ay), s / 2 + ty + fill * (sr * ax + cr * ay)};
  };
  // One pass of smoothing is enough at 28² (segments ~2 px); larger images get two.
  const int passes = side >= 56 ? 2 : 1;

  std::vector<float> ink(static_cast<size_t>(side * side), 0.0f);
  std::vector<Pt> pts;
  for (const auto& median : c.medians) {
    // Per stroke: offset, a small turn and stretch about its first point, and its own pen width.
    const double ox = v * 0.012 * rng.normal(), oy = v * 0.012 * rng.normal();
    const double turn = v * 0.06 * std::clamp(rng.normal(), -2.5, 2.5);
    const double stretch = std::exp(v * 0.08 * std::clamp(rng.normal(), -2.5, 2.5));
    const double width = pen * std::exp(v * 0.12 * std::clamp(rng.normal(), -2.5, 2.5));
    const double ct = std::cos(turn) * stretch, st = std::sin(turn) * stretch;
    // hanzi-writer coordinates: 1024 grid, y up, em box y ∈ [−124, 900]; centred and flipped here.
    const double x_first = (median[0][0] - 512.0) / 1024.0, y_first = (388.0 - median[0][1]) / 1024.0;
    pts.clear();
    for (const auto& p : median) {
      const double dx = (p[0] - 512.0) / 1024.0 - x_first, dy = (388.0 - p[1]) / 1024.0 - y_first;
      const double x = x_first + ct * dx - st * dy + ox + v * 0.010 * rng.normal();
      const double y = y_first + st * dx + ct * dy + oy + v * 0.010 * rng.normal();
      pts.push_back(to_pixels(x, y));
    }
    const std::vector<Pt> path = smooth(pts, passes);
    const auto r = static_cast<float>(std::max(width, 1.0) / 2), opacity = static_cast<float>(std::min(width, 1.0));
    if (path.size() == 1) stroke_segment(path[0], path[0], r, opacity, side, ink.data());
    for (size_t i = 0; i + 1 < path.size(); ++i) stroke_segment(path[i], path[i + 1], r, opacity, side, ink.data());
  }
  for (size_t i = 0; i < ink.size(); ++i) out[i] = static_cast<uint8_t>(255.0f * ink[i] + 0.5f);
}

HanziCharacter parse_hanzi_json(std::string_view text, const std::string& character, const std::string& where,
                                const HanziLimits& lim) {
  if (static_cast<int64_t>(text.size()) > lim.max_line_bytes) {
    throw data_error(where + ": character object of " + std::to_string(text.size()) + " bytes (at most " +
                     std::to_string(lim.max_line_bytes) + ")");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw data_error(where + ": invalid JSON (" + std::string(e.what()) + ")");
  }
  const auto bad = [&](const std::string& what) {
    return data_error(where + ": " + what + " (expected {\"character\": \"永\", \"medians\": [[[x, y], …], …], "
                                            "\"radStrokes\": [i, …]})");
  };
  if (!j.is_object()) throw bad("not a JSON object");
  HanziCharacter c;
  if (j.contains("character")) {
    if (!j["character"].is_string()) throw bad("\"character\" is not a string");
    c.character = j["character"].get<std::string>();
  } else {
    c.character = character;
  }
  c.code_point = single_code_point(c.character);
  if (c.code_point == 0) throw bad("\"character\" must be exactly one Unicode character in UTF-8");
  const std::string name = c.character + " (" + hex_code_point(c.code_point) + ")";
  if (!j.contains("medians") || !j["medians"].is_array()) throw bad(name + ": no \"medians\" array");
  const auto& med = j["medians"];
  if (med.empty() || static_cast<int64_t>(med.size()) > lim.max_strokes) {
    throw bad(name + ": " + std::to_string(med.size()) + " strokes, expected 1 to " + std::to_string(lim.max_strokes));
  }
  c.medians.reserve(med.size());
  for (size_t s = 0; s < med.size(); ++s) {
    const auto& stroke = med[s];
    if (!stroke.is_array() || stroke.empty() || static_cast<int64_t>(stroke.size()) > lim.max_points) {
      throw bad(name + ": stroke " + std::to_string(s) + " must be an array of 1 to " +
                std::to_string(lim.max_points) + " points");
    }
    std::vector<std::array<float, 2>> pts;
    pts.reserve(stroke.size());
    for (const auto& p : stroke) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number()) {
        throw bad(name + ": stroke " + std::to_string(s) + " has a point that is not [x, y] with numbers x, y");
      }
      const double x = p[0].get<double>(), y = p[1].get<double>();
      const auto inside = [&](double v) { return v >= lim.min_coordinate && v <= lim.max_coordinate; };  // NaN fails
      if (!inside(x) || !inside(y)) {
        throw bad(name + ": stroke " + std::to_string(s) + " has point " + p.dump() + " outside [" +
                  std::to_string(static_cast<int64_t>(lim.min_coordinate)) + ", " +
                  std::to_string(static_cast<int64_t>(lim.max_coordinate)) + "]");
      }
      pts.push_back({static_cast<float>(x), static_cast<float>(y)});
    }
    c.medians.push_back(std::move(pts));
  }
  if (j.contains("radStrokes")) {
    const auto& rad = j["radStrokes"];
    if (!rad.is_array() || rad.size() > med.size()) throw bad(name + ": \"radStrokes\" must list stroke indices");
    for (const auto& r : rad) {
      if (!r.is_number_integer() || r.get<int64_t>() < 0 || r.get<int64_t>() >= static_cast<int64_t>(med.size())) {
        throw bad(name + ": \"radStrokes\" holds " + r.dump() + ", not a stroke index in [0, " +
                  std::to_string(med.size()) + ")");
      }
      c.radical_strokes.push_back(static_cast<int32_t>(r.get<int64_t>()));
    }
  }
  return c;
}

std::vector<HanziCharacter> read_hanzi_jsonl(const std::string& path, const HanziLimits& lim) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw data_error(path + ": no such file (expected hanzi stroke medians, JSON lines)");
  const uintmax_t bytes = fs::file_size(path, ec);
  if (ec || static_cast<int64_t>(bytes) > lim.max_file_bytes) {
    throw data_error(path + ": " + (ec ? "cannot read its size" : std::to_string(bytes) + " bytes") +
                     ", expected at most " + std::to_string(lim.max_file_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw data_error(path + ": cannot read");
  std::string text(static_cast<size_t>(bytes), '\0');
  in.read(text.data(), static_cast<std::streamsize>(bytes));
  if (static_cast<uintmax_t>(in.gcount()) != bytes) throw data_error(path + ": cannot read all " + std::to_string(bytes) + " bytes");
  return parse_hanzi_jsonl(text, path, lim);
}

std::vector<HanziCharacter> parse_hanzi_jsonl(std::string_view text, const std::string& path, const HanziLimits& lim) {
  if (static_cast<int64_t>(text.size()) > lim.max_file_bytes) {
    throw data_error(path + ": " + std::to_string(text.size()) + " bytes, expected at most " +
                     std::to_string(lim.max_file_bytes));
  }
  std::vector<HanziCharacter> out;
  std::map<uint32_t, int64_t> seen;  // code point → line
  size_t pos = 0;
  int64_t line = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    ++line;
    const std::string_view row(text.data() + pos, end - pos);
    pos = end + 1;
    if (row.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = path + ":" + std::to_string(line);
    HanziCharacter c = parse_hanzi_json(row, "", where, lim);
    if (const auto it = seen.find(c.code_point); it != seen.end()) {
      throw data_error(where + ": character " + c.character + " already appears on line " + std::to_string(it->second));
    }
    seen.emplace(c.code_point, line);
    if (static_cast<int64_t>(out.size()) >= lim.max_characters) {
      throw data_error(path + ": more than " + std::to_string(lim.max_characters) + " characters");
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) throw data_error(path + ": no characters (expected one JSON object per line)");
  return out;
}

GlyphSet make_hanzi(std::vector<HanziCharacter> chars, const HanziOptions& o) {
  if (o.side < 8 || o.side > 512) throw option_error("hanzi: side " + std::to_string(o.side) + " must lie in [8, 512]");
  if (o.instances < 1 || o.instances > 1000) {
    throw option_error("hanzi: instances " + std::to_string(o.instances) + " must lie in [1, 1000]");
  }
  if (!(o.variation >= 0 && o.variation <= 4)) throw option_error("hanzi: variation must lie in [0, 4]");
  if (o.min_strokes < 1 || o.max_strokes < o.min_strokes) {
    throw option_error("hanzi: stroke range [" + std::to_string(o.min_strokes) + ", " + std::to_string(o.max_strokes) +
                       "] must satisfy 1 ≤ min_strokes ≤ max_strokes");
  }
  if (o.evaluation_every < 2) throw option_error("hanzi: evaluation_every must be ≥ 2");
  std::erase_if(chars, [&](const HanziCharacter& c) {
    const auto n = static_cast<int64_t>(c.medians.size());
    return n < o.min_strokes || n > o.max_strokes;
  });
  if (chars.empty()) {
    throw option_error("hanzi: no character has " + std::to_string(o.min_strokes) + " to " +
                       std::to_string(o.max_strokes) + " strokes");
  }
  std::sort(chars.begin(), chars.end(), [](const auto& a, const auto& b) { return a.code_point < b.code_point; });
  std::map<int64_t, int32_t> alphabet_of;  // stroke count → alphabet index, ascending
  for (const auto& c : chars) alphabet_of.emplace(static_cast<int64_t>(c.medians.size()), 0);
  std::vector<std::string> alphabets;
  for (auto& [strokes, index] : alphabet_of) {
    index = static_cast<int32_t>(alphabets.size());
    alphabets.push_back(std::to_string(strokes) + (strokes == 1 ? " stroke" : " strokes"));
  }
  std::vector<GlyphCharacter> meta;
  for (const auto& c : chars) {
    const auto strokes = static_cast<int64_t>(c.medians.size());
    meta.push_back({c.character, alphabet_of.at(strokes), static_cast<int32_t>(o.instances),
                    strokes % o.evaluation_every == 0});
  }
  const std::string description = std::to_string(chars.size()) +
                                  " characters drawn from hanzi-writer-data stroke medians by synthetic drawers (seed " +
                                  std::to_string(o.seed) + ")";
  auto renderer = std::make_shared<HanziRenderer>(std::move(chars), o.seed, o.variation);
  return GlyphSet::drawn("hanzi", description, o.side, std::move(alphabets), std::move(meta), std::move(renderer));
}

GlyphSet load_hanzi(const std::string& data_dir, const HanziOptions& o, bool verify_checksums,
                    const std::string& manifest_path) {
  const Manifest m = read_manifest(locate_manifest(data_dir, manifest_path));
  const ManifestDataset* d = m.dataset("hanzi");
  if (!d) throw data_error(m.path + ": no dataset 'hanzi' (fetch the data again with " + fetch_command(data_dir) + ")");
  if (d->format != "strokes" || !d->spec["files"].contains("medians")) {
    throw data_error(m.path + ": dataset 'hanzi' must have format \"strokes\" and a file \"medians\"");
  }
  check_dataset_files(data_dir, m, *d, verify_checksums);
  const std::string path = (fs::path(data_dir) / d->spec["files"]["medians"].get<std::string>()).string();
  return make_hanzi(read_hanzi_jsonl(path), o);
}

}  // namespace bilevel::data
