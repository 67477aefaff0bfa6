#include "data/omniglot.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "data/data_dir.hpp"

namespace bilevel::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLayout =
    "the Omniglot folder holding images_background/<Alphabet>/<character>/*.png and images_evaluation/…";

struct CharacterFiles {
  int32_t alphabet = 0;
  std::string name;
  bool evaluation = false;
  std::vector<std::string> files;  // sorted full paths
};

bool is_hidden(const fs::path& p) { return p.filename().string().starts_with("."); }

bool has_png_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".png";
}

// The visible entries of `dir`, sorted by name. `what` says what the folder should contain, for errors.
std::vector<fs::directory_entry> list_dir(const fs::path& dir, const std::string& what) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw data_error(dir.string() + ": cannot list the folder (" + ec.message() + "); expected " + what);
  std::vector<fs::directory_entry> out;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw data_error(dir.string() + ": cannot list the folder (" + ec.message() + "); expected " + what);
    if (!is_hidden(it->path())) out.push_back(*it);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  return out;
}

bool is_dir(const fs::directory_entry& e) {
  std::error_code ec;
  return e.is_directory(ec);
}

void list_part(const fs::path& root, const std::string& part, bool evaluation, std::vector<std::string>& alphabets,
               std::vector<CharacterFiles>& chars, int64_t& images, int64_t max_images) {
  const fs::path dir = root / part;
  const auto alphabet_dirs = list_dir(dir, "one folder per alphabet");
  if (alphabet_dirs.empty()) throw data_error(dir.string() + ": no alphabet folders (expected " + std::string(kLayout) + ")");
  for (const auto& a : alphabet_dirs) {
    if (!is_dir(a)) {
      throw data_error(a.path().string() + ": a file where an alphabet folder was expected (" + part +
                       "/<Alphabet>/<character>/*.png)");
    }
    const auto char_dirs = list_dir(a.path(), "one folder per character");
    if (char_dirs.empty()) {
      throw data_error(a.path().string() + ": empty alphabet: no character folders (expected " + part + "/" +
                       a.path().filename().string() + "/<character>/*.png)");
    }
    alphabets.push_back(part + "/" + a.path().filename().string());
    for (const auto& c : char_dirs) {
      if (!is_dir(c)) {
        throw data_error(c.path().string() + ": a file where a character folder was expected (" + part +
                         "/<Alphabet>/<character>/*.png)");
      }
      CharacterFiles cf;
      cf.alphabet = static_cast<int32_t>(alphabets.size() - 1);
      cf.name = c.path().filename().string();
      cf.evaluation = evaluation;
      for (const auto& f : list_dir(c.path(), "the character's drawings as *.png files")) {
        std::error_code ec;
        if (!f.is_regular_file(ec) || !has_png_extension(f.path())) {
          throw data_error(f.path().string() + ": not a PNG file (a character folder holds only *.png drawings)");
        }
        cf.files.push_back(f.path().string());
      }
      if (cf.files.empty()) throw data_error(c.path().string() + ": character folder with no *.png drawings");
      images += static_cast<int64_t>(cf.files.size());
      if (images > max_images) {
        throw data_error(dir.string() + ": more than " + std::to_string(max_images) +
                         " drawings (Omniglot has 32460); refusing to load so many");
      }
      chars.push_back(std::move(cf));
    }
  }
}

fs::path omniglot_root(const std::string& dir) {
  std::error_code ec;
  if (fs::is_directory(fs::path(dir) / "images_background", ec)) return dir;
  if (fs::is_directory(fs::path(dir) / "omniglot" / "images_background", ec)) return fs::path(dir) / "omniglot";
  if (!fs::is_directory(dir, ec)) throw data_error(dir + ": no such directory (expected " + std::string(kLayout) + ")");
  throw data_error((fs::path(dir) / "images_background").string() + ": missing (expected " + std::string(kLayout) +
                   "; unzip images_background.zip and images_evaluation.zip from Omniglot's python/ folder there)");
}

}  // namespace

bool looks_like_omniglot(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(fs::path(dir) / "images_background", ec) ||
         fs::is_directory(fs::path(dir) / "omniglot" / "images_background", ec);
}

GlyphSet load_omniglot(const std::string& dir, const OmniglotOptions& o) {
  BILEVEL_CHECK(o.side >= 1, "load_omniglot: side must be ≥ 1");
  const fs::path root = omniglot_root(dir);
  std::vector<std::string> alphabets;
  std::vector<CharacterFiles> chars;
  int64_t images = 0;
  list_part(root, "images_background", false, alphabets, chars, images, o.max_images);
  if (o.evaluation) {
    std::error_code ec;
    if (!fs::is_directory(root / "images_evaluation", ec)) {
      throw data_error((root / "images_evaluation").string() + ": missing (expected " + std::string(kLayout) +
                       "; the held-out characters come from there)");
    }
    list_part(root, "images_evaluation", true, alphabets, chars, images, o.max_images);
  }

  // Decode every character's drawings in parallel into its own slot; report the first failure in file order.
  const size_t n = chars.size(), plane = static_cast<size_t>(o.side * o.side);
  std::vector<std::vector<uint8_t>> pixels(n);
  std::vector<std::optional<std::string>> errors(n);
  tbb::parallel_for(size_t{0}, n, [&](size_t c) {
    try {
      std::vector<uint8_t>& out = pixels[c];
      out.reserve(chars[c].files.size() * plane);
      for (const auto& f : chars[c].files) {
        GrayImage img = read_png(f, o.limits);
        for (auto& v : img.pixels) v = static_cast<uint8_t>(255 - v);  // black strokes on white → ink
        const GrayImage small = resize_area(img, o.side, o.side);
        out.insert(out.end(), small.pixels.begin(), small.pixels.end());
      }
    } catch (const data_error& e) {
      errors[c] = e.what();
    }
  });
  for (const auto& e : errors)
    if (e) throw data_error(*e);

  std::vector<GlyphCharacter> characters;
  std::vector<uint8_t> all;
  all.reserve(static_cast<size_t>(images) * plane);
  for (size_t c = 0; c < n; ++c) {
    characters.push_back({chars[c].name, chars[c].alphabet, static_cast<int32_t>(chars[c].files.size()),
                          chars[c].evaluation});
    all.insert(all.end(), pixels[c].begin(), pixels[c].end());
    std::vector<uint8_t>().swap(pixels[c]);
  }
  return GlyphSet::stored("omniglot", "Omniglot folders in " + root.string(), o.side, std::move(alphabets),
                          std::move(characters), std::move(all));
}

}  // namespace bilevel::data
