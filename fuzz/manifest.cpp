// The dataset manifest (datasets/manifest.json, or a copy beside the data): parse_manifest from memory.
// Accepted manifests hold only the bounded, cross-checked values the loaders rely on.
#include <set>

#include "data/manifest.hpp"
#include "fuzz_input.hpp"

using namespace bilevel;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  data::Manifest m;
  if (!fuzz::accepted([&] { m = data::parse_manifest(fuzz::bytes_of(data, size), "fuzz-manifest.json"); })) return 0;
  std::set<std::string> names;
  for (const auto& s : m.sources)
    for (const auto& f : s.files) {
      BILEVEL_FUZZ_CHECK(f.size >= 0 && f.size <= data::kMaxFileSize && f.sha256.size() == 64);
      BILEVEL_FUZZ_CHECK(!f.path.empty() && f.path[0] != '/' && f.path.find("..") == std::string::npos);
    }
  for (const auto& d : m.datasets) {
    BILEVEL_FUZZ_CHECK(names.insert(d.name).second);
    BILEVEL_FUZZ_CHECK(m.source(d.source) != nullptr);
    BILEVEL_FUZZ_CHECK(d.train >= 1 && d.test >= 0 && d.train <= data::kMaxCount && d.test <= data::kMaxCount);
    BILEVEL_FUZZ_CHECK(d.features >= 1 && d.features <= data::kMaxCount && d.classes >= 2);
    BILEVEL_FUZZ_CHECK((d.train + d.test) * d.features <= data::kMaxDatasetValues);
    BILEVEL_FUZZ_CHECK(d.scale >= 0 && d.header_lines >= 0);
    for (const auto& [role, path] : d.file_roles) BILEVEL_FUZZ_CHECK(m.file(path) != nullptr);
    if (!d.image_shape.empty()) {
      int64_t product = 1;
      for (int64_t s : d.image_shape) product *= s;
      BILEVEL_FUZZ_CHECK(product == d.features);
    }
    if (d.format == "idx") {
      BILEVEL_FUZZ_CHECK(!d.image_shape.empty() && d.file_roles.count("test_labels") == 1);
    } else if (d.format == "csv") {
      BILEVEL_FUZZ_CHECK(d.file_roles.count("table") == 1);
    } else {
      BILEVEL_FUZZ_CHECK(d.format == "strokes" && d.file_roles.count("medians") == 1);
    }
  }
  return 0;
}
