#include "run/datasets_report.hpp"

#include <cstdio>

#include "base/errors.hpp"
#include "data/data_dir.hpp"
#include "data/manifest.hpp"

namespace bilevel {

namespace {

// Pads by code points so the box-drawing and Greek letters in descriptions do not skew columns.
std::string pad(const std::string& s, size_t width) {
  size_t cps = 0;
  for (unsigned char c : s) cps += (c & 0xc0) != 0x80;
  return cps >= width ? s + " " : s + std::string(width - cps, ' ');
}

// "present", "missing", "incomplete (…)" or "damaged (…)" from the sizes of the dataset's files.
std::string dataset_status(const data::Manifest& m, const data::ManifestDataset& d, const std::string& dir,
                           int64_t& bytes) {
  int64_t present = 0;
  std::string problem;
  for (const auto& rel : d.files) {
    const data::ManifestFile* f = m.file(rel);
    bytes += f->size;
    const data::FileCheck c = data::check_file(dir, *f, false);
    if (c.state == data::FileState::ok) ++present;
    else if (c.state != data::FileState::missing && problem.empty()) problem = rel + ": " + c.describe(*f);
  }
  if (!problem.empty()) return "damaged (" + problem + ")";
  if (present == static_cast<int64_t>(d.files.size())) return "present";
  if (present == 0) return "missing";
  return "incomplete (" + std::to_string(d.files.size() - static_cast<size_t>(present)) + " of " +
         std::to_string(d.files.size()) + " files missing)";
}

}  // namespace

void datasets_list(const DatasetsParams& o, std::ostream& out) {
  const std::string dir = data::resolve_data_dir(o.data_dir);
  const data::Manifest m = data::read_manifest(data::locate_manifest(dir, o.manifest));
  out << "data directory: " << dir << "   (manifest: " << m.path << ")\n\n";
  out << pad("name", 15) << pad("train", 7) << pad("test", 7) << pad("features", 10) << pad("classes", 9)
      << pad("MB", 7) << pad("source", 56) << "status\n";
  bool any_missing = false;
  for (const auto& d : m.datasets) {
    int64_t bytes = 0;
    const std::string status = dataset_status(m, d, dir, bytes);
    any_missing = any_missing || status != "present";
    const data::ManifestSource* s = m.source(d.source);
    char mb[32];
    std::snprintf(mb, sizeof mb, "%.1f", static_cast<double>(bytes) / 1e6);
    out << pad(d.name, 15) << pad(std::to_string(d.train), 7) << pad(std::to_string(d.test), 7)
        << pad(std::to_string(d.features), 10) << pad(std::to_string(d.classes), 9) << pad(mb, 7)
        << pad(s ? s->describe() : d.source, 56) << status << "\n";
  }
  out << "\n";
  if (any_missing) out << "fetch missing data with " << data::fetch_command(dir) << "\n";
  out << "sizes and presence only; `bilevel-opt datasets verify` checks every sha256\n";
}

void datasets_verify(const DatasetsParams& o, std::ostream& out) {
  const std::string dir = data::resolve_data_dir(o.data_dir);
  const data::Manifest m = data::read_manifest(data::locate_manifest(dir, o.manifest));
  std::vector<std::string> files;
  if (o.names.empty()) {
    for (const auto& s : m.sources)
      for (const auto& f : s.files) files.push_back(f.path);
  }
  for (const auto& n : o.names) {
    const data::ManifestDataset* d = m.dataset(n);
    if (!d) {
      std::string known;
      for (const auto& k : m.dataset_names()) known += (known.empty() ? "" : ", ") + k;
      throw usage_error("unknown dataset '" + n + "'; known datasets: " + known);
    }
    files.insert(files.end(), d->files.begin(), d->files.end());
  }
  out << "data directory: " << dir << "   (manifest: " << m.path << ")\n";
  int64_t bad = 0;
  for (const auto& rel : files) {
    const data::ManifestFile* f = m.file(rel);
    const data::FileCheck c = data::check_file(dir, *f, true);
    const bool ok = c.state == data::FileState::ok;
    bad += !ok;
    out << (ok ? "ok       " : "FAILED   ") << pad(rel, 44) << (ok ? "sha256 " + f->sha256 : c.describe(*f)) << "\n";
    out.flush();
  }
  if (bad > 0) {
    throw io_error(std::to_string(bad) + " of " + std::to_string(files.size()) +
                   " dataset files failed verification in " + dir + "; fetch them again with " +
                   data::fetch_command(dir));
  }
  out << "all " << files.size() << " files match their pinned sha256\n";
}

}  // namespace bilevel
