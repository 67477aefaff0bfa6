#include "data/preview.hpp"

#include <algorithm>
#include <filesystem>

#include "base/errors.hpp"
#include "data/fewshot.hpp"
#include "data/png.hpp"

namespace bilevel::data {

void datasets_preview(const PreviewParams& p, std::ostream& out) {
  namespace fs = std::filesystem;
  if (p.name != "hanzi" && p.name != "omniglot") {
    throw usage_error("datasets preview: unknown character dataset '" + p.name + "' (valid: hanzi, omniglot)");
  }
  if (p.chars < 1 || p.chars > 1000) throw usage_error("datasets preview: --chars must lie in [1, 1000]");
  const fs::path file = p.out.empty() ? p.name + "-preview.png" : p.out;
  std::error_code ec;
  const fs::file_status st = fs::status(file, ec);
  if (fs::exists(st) && !fs::is_regular_file(st)) {
    throw usage_error("datasets preview: --out " + file.string() + " exists and is not a regular file; refusing to replace it");
  }
  const fs::path parent = file.has_parent_path() ? file.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec)) {
    throw usage_error("datasets preview: --out " + file.string() + ": no directory " + parent.string());
  }
  GlyphOptions g;
  g.dataset = p.name;
  g.data_dir = p.data_dir;
  const GlyphSet set = load_glyphs(g);
  const std::vector<int64_t> rows = sample_characters(set, p.chars, p.seed);
  int64_t columns = 1;
  for (int64_t c : rows) columns = std::max<int64_t>(columns, set.characters[static_cast<size_t>(c)].instances);
  constexpr int64_t zoom = 3;
  write_png(file.string(), contact_sheet(set, rows, columns, zoom));
  out << "wrote " << file.string() << ": " << rows.size() << " characters × " << columns << " instances, " << set.side
      << "×" << set.side << " shown " << zoom << "× (" << set.name << ": " << set.description << ")\nrows:";
  for (int64_t c : rows) {
    const GlyphCharacter& ch = set.characters[static_cast<size_t>(c)];
    out << " " << ch.name << " (" << set.alphabets[static_cast<size_t>(ch.alphabet)]
        << (ch.evaluation ? ", held out" : "") << ")";
  }
  out << "\n";
}

}  // namespace bilevel::data
