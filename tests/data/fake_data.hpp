#pragma once
// A throw-away data directory with tiny datasets in the real on-disk formats (IDX raw or gzip, CSV plain or
// gzip) and a manifest.json describing them with their true sizes and sha256 — so tests exercise the same
// loading and verification path as `make data` output, without the network.
//
// Images are learnable: class c's examples are a fixed random prototype plus pixel noise, so a linear
// classifier trained on them does much better than chance.
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/idx.hpp"
#include "data/sha256.hpp"
#include "tensor/rng.hpp"

namespace bilevel::testing {

class FakeDataDir {
 public:
  FakeDataDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bilevel-data-test.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }
  ~FakeDataDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  FakeDataDir(const FakeDataDir&) = delete;
  FakeDataDir& operator=(const FakeDataDir&) = delete;

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& rel) const { return (std::filesystem::path(dir_) / rel).string(); }

  // An IDX dataset `name` (files under <dir>/<name>/), side×side images, balanced classes.
  void add_idx_dataset(const std::string& name, int64_t n_train, int64_t n_test, int64_t side, int64_t classes,
                       bool gzip, uint64_t seed = 1, double noise = 40.0) {
    Rng rng(seed, {0x66616b65});
    const int64_t d = side * side;
    std::vector<std::vector<double>> proto(static_cast<size_t>(classes), std::vector<double>(static_cast<size_t>(d)));
    for (auto& p : proto)
      for (auto& v : p) v = rng.uniform(0, 255);
    const std::string ext = gzip ? ".gz" : "";
    nlohmann::json files;
    for (int part = 0; part < 2; ++part) {
      const int64_t n = part == 0 ? n_train : n_test;
      std::vector<uint8_t> images(static_cast<size_t>(n * d)), labels(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = (i + rng.randint(classes)) % classes;
        labels[static_cast<size_t>(i)] = static_cast<uint8_t>(c);
        for (int64_t j = 0; j < d; ++j) {
          const double v = proto[static_cast<size_t>(c)][static_cast<size_t>(j)] + noise * rng.normal();
          images[static_cast<size_t>(i * d + j)] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, v)));
        }
      }
      const std::string stem = name + "/" + (part == 0 ? "train" : "t10k");
      std::filesystem::create_directories(path(name));
      data::write_idx(path(stem + "-images-idx3-ubyte" + ext), {n, side, side}, images, gzip);
      data::write_idx(path(stem + "-labels-idx1-ubyte" + ext), {n}, labels, gzip);
      files[part == 0 ? "train_images" : "test_images"] = stem + "-images-idx3-ubyte" + ext;
      files[part == 0 ? "train_labels" : "test_labels"] = stem + "-labels-idx1-ubyte" + ext;
      file_list_.push_back(stem + "-images-idx3-ubyte" + ext);
      file_list_.push_back(stem + "-labels-idx1-ubyte" + ext);
    }
    datasets_.push_back({{"name", name},
                         {"description", "tiny test images"},
                         {"source", "fixture"},
                         {"format", "idx"},
                         {"files", files},
                         {"train", n_train},
                         {"test", n_test},
                         {"image_shape", {side, side}},
                         {"features", d},
                         {"classes", classes},
                         {"scale", 255}});
  }

  // A CSV table `name` at <dir>/<file>: `header` first line (if non-empty), then rows "f1,…,fD,label".
  void add_csv_dataset(const std::string& name, const std::string& file, int64_t rows, int64_t features,
                       int64_t classes, int64_t test_rows, const std::string& header, double scale = 0) {
    Rng rng(7, {0x637376});
    std::string text = header.empty() ? "" : header + "\n";
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t c = r % classes;
      for (int64_t f = 0; f < features; ++f) text += std::to_string(c + 0.25 * rng.normal()) + ",";
      text += std::to_string(c) + "\n";
    }
    write_text(file, text, file.size() > 3 && file.substr(file.size() - 3) == ".gz");
    file_list_.push_back(file);
    datasets_.push_back({{"name", name},
                         {"description", "tiny test table"},
                         {"source", "fixture"},
                         {"format", "csv"},
                         {"files", {{"table", file}}},
                         {"header_lines", header.empty() ? 0 : 1},
                         {"examples", rows},
                         {"test_examples", test_rows},
                         {"features", features},
                         {"classes", classes},
                         {"scale", scale}});
  }

  // Writes <dir>/manifest.json listing every file added so far with its current size and sha256.
  void write_manifest() const {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : file_list_) {
      files.push_back({{"member", "package/" + f},
                       {"path", f},
                       {"size", static_cast<int64_t>(std::filesystem::file_size(path(f)))},
                       {"sha256", data::sha256_file(path(f))}});
    }
    nlohmann::json m = {{"format", 1},
                        {"sources", {{{"name", "fixture"},
                                      {"kind", "npm"},
                                      {"package", "test-fixture"},
                                      {"version", "0.0.1"},
                                      {"files", files}}}},
                        {"datasets", datasets_}};
    std::ofstream(path("manifest.json")) << m.dump(2);
  }

  void write_text(const std::string& rel, const std::string& text, bool gzip) const {
    std::filesystem::create_directories(std::filesystem::path(path(rel)).parent_path());
    gzFile f = gzopen(path(rel).c_str(), gzip ? "wb" : "wbT");
    if (!f) throw std::runtime_error("cannot write " + rel);
    if (!text.empty()) gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
    gzclose(f);
  }
  // Keeps the first `bytes` bytes of a file.
  void truncate(const std::string& rel, int64_t bytes) const {
    std::filesystem::resize_file(path(rel), static_cast<uintmax_t>(bytes));
  }
  // XORs the byte at `offset` with 0xff (size unchanged).
  void flip_byte(const std::string& rel, int64_t offset) const {
    std::fstream f(path(rel), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(offset);
    const char c = static_cast<char>(f.get());
    f.seekp(offset);
    f.put(static_cast<char>(c ^ '\xff'));
  }

 private:
  std::string dir_;
  std::vector<std::string> file_list_;
  nlohmann::json datasets_ = nlohmann::json::array();
};

}  // namespace bilevel::testing
