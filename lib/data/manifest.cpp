#include "data/manifest.hpp"

#include <filesystem>
#include <fstream>

#include "data/data_dir.hpp"
#include "data/sha256.hpp"

namespace bilevel::data {

namespace fs = std::filesystem;

namespace {

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string str(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_string()) throw data_error(where + ": missing string field '" + key + "'");
  return j[key].get<std::string>();
}
int64_t num(const nlohmann::json& j, const char* key, const std::string& where, int64_t def = -2) {
  if (!j.contains(key)) {
    if (def != -2) return def;
    throw data_error(where + ": missing number field '" + key + "'");
  }
  if (!j[key].is_number_integer()) throw data_error(where + ": field '" + std::string(key) + "' must be an integer");
  return j[key].get<int64_t>();
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

Manifest read_manifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw data_error(path + ": cannot read the dataset manifest");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw data_error(path + ": invalid JSON in the dataset manifest: " + e.what());
  }
  Manifest m;
  m.path = path;
  if (!j.contains("sources") || !j["sources"].is_array() || !j.contains("datasets") || !j["datasets"].is_array()) {
    throw data_error(path + ": a dataset manifest needs arrays 'sources' and 'datasets'");
  }
  for (const auto& js : j["sources"]) {
    ManifestSource s;
    const std::string where = path + ": source " + js.value("name", std::string("?"));
    s.name = str(js, "name", where);
    s.kind = str(js, "kind", where);
    s.package = str(js, "package", where);
    s.version = str(js, "version", where);
    s.artifact = js.value("artifact", std::string());
    s.artifact_size = num(js, "artifact_size", where, -1);
    s.artifact_sha256 = js.value("artifact_sha256", std::string());
    if (!js.contains("files") || !js["files"].is_array()) throw data_error(where + ": missing array 'files'");
    for (const auto& jf : js["files"]) {
      ManifestFile f;
      f.path = str(jf, "path", where);
      const std::string fwhere = where + ", file " + f.path;
      f.member = jf.value("member", std::string());
      f.size = num(jf, "size", fwhere);
      f.sha256 = str(jf, "sha256", fwhere);
      f.source = s.name;
      if (f.size < 0 || !is_hex64(f.sha256)) throw data_error(fwhere + ": size must be ≥ 0 and sha256 64 hex digits");
      if (f.path.empty() || f.path.front() == '/' || f.path.find("..") != std::string::npos) {
        throw data_error(fwhere + ": paths must be relative to the data directory");
      }
      s.files.push_back(f);
    }
    m.sources.push_back(std::move(s));
  }
  for (const auto& jd : j["datasets"]) {
    ManifestDataset d;
    const std::string where = path + ": dataset " + jd.value("name", std::string("?"));
    d.name = str(jd, "name", where);
    d.description = jd.value("description", std::string());
    d.format = str(jd, "format", where);
    d.source = str(jd, "source", where);
    d.features = num(jd, "features", where);
    d.classes = num(jd, "classes", where);
    d.spec = jd;
    if (!m.source(d.source)) throw data_error(where + ": unknown source '" + d.source + "'");
    if (!jd.contains("files") || !jd["files"].is_object()) throw data_error(where + ": missing object 'files'");
    for (const auto& [role, p] : jd["files"].items()) {
      if (!p.is_string()) throw data_error(where + ": files." + role + " must be a path");
      if (!m.file(p.get<std::string>())) {
        throw data_error(where + ": file " + p.get<std::string>() + " (" + role + ") is not listed by any source");
      }
      d.files.push_back(p.get<std::string>());
    }
    if (d.format == "idx" || d.format == "strokes") {
      d.train = num(jd, "train", where);
      d.test = num(jd, "test", where);
    } else if (d.format == "csv") {
      const int64_t n = num(jd, "examples", where);
      const int64_t n_test = num(jd, "test_examples", where);
      if (n_test < 0 || n_test >= n) throw data_error(where + ": test_examples must lie in [0, examples)");
      d.train = n - n_test;
      d.test = n_test;
    } else {
      throw data_error(where + ": unknown format '" + d.format + "' (known: idx, csv, strokes)");
    }
    if (d.train <= 0 || d.features <= 0 || d.classes < 2) {
      throw data_error(where + ": needs train > 0 examples, features > 0 and classes ≥ 2");
    }
    m.datasets.push_back(std::move(d));
  }
  return m;
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
