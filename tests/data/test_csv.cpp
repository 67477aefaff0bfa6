// CSV reader: plain and gzip tables, header lines, and errors that name the file and line.
#include <doctest/doctest.h>

#include <string>

#include "data/csv.hpp"
#include "data/data_dir.hpp"
#include "data/fake_data.hpp"

using namespace bilevel;

TEST_CASE("csv: plain and gzip tables with and without a header") {
  testing::FakeDataDir d;
  const std::string body = "5.1,3.5,0\n4.9,3.0,1\r\n\n6.2,2.9,2\n";
  d.write_text("a.csv", "3,2,x,y,z\n" + body, false);
  d.write_text("b.csv.gz", body, true);
  d.write_text("c.csv", "1,2\n3,4", false);  // no final newline
  data::CsvOptions o;
  o.header_lines = 1;
  const data::CsvTable a = data::read_csv(d.path("a.csv"), o);
  CHECK(a.rows == 3);
  CHECK(a.cols == 3);
  CHECK(a.header == std::vector<std::string>{"3,2,x,y,z"});
  CHECK(a.at(1, 1) == doctest::Approx(3.0));
  CHECK(a.at(2, 2) == 2.0);
  const data::CsvTable b = data::read_csv(d.path("b.csv.gz"));
  CHECK(b.values == a.values);
  CHECK(data::read_csv(d.path("c.csv")).values == std::vector<double>{1, 2, 3, 4});
}

TEST_CASE("csv: bad fields, ragged rows, wrong row counts, missing and corrupt files") {
  testing::FakeDataDir d;
  const std::string hint = data::fetch_command(d.dir());
  d.write_text("bad.csv", "1,2,3\n4,x5,6\n", false);
  CHECK_THROWS_WITH_AS(data::read_csv(d.path("bad.csv"), {}, hint), doctest::Contains("bad.csv:2: field 2 'x5' is not a finite decimal number"),
                       data::data_error);
  d.write_text("ragged.csv", "1,2,3\n4,5\n", false);
  CHECK_THROWS_WITH_AS(data::read_csv(d.path("ragged.csv"), {}, hint), doctest::Contains("ragged.csv:2: 2 fields, expected 3"),
                       data::data_error);
  d.write_text("nan.csv", "1,nan\n", false);
  CHECK_THROWS_AS(data::read_csv(d.path("nan.csv")), data::data_error);
  d.write_text("empty.csv", "", false);
  CHECK_THROWS_WITH_AS(data::read_csv(d.path("empty.csv")), doctest::Contains("no data rows"), data::data_error);

  data::CsvOptions o;
  o.expected_rows = 3;
  o.expected_cols = 3;
  d.write_text("short.csv", "1,2,3\n4,5,6\n", false);
  CHECK_THROWS_WITH_AS(data::read_csv(d.path("short.csv"), o, hint), doctest::Contains("2 data rows, expected 3 (truncated?)"),
                       data::data_error);
  CHECK_THROWS_WITH(data::read_csv(d.path("short.csv"), o, hint), doctest::Contains("make data"));
  CHECK_THROWS_WITH_AS(data::read_csv(d.path("none.csv"), o, hint), doctest::Contains("none.csv: missing"), data::data_error);

  std::string big;
  for (int i = 0; i < 2000; ++i) big += "1.5,2.5,3.5\n";
  d.write_text("big.csv.gz", big, true);
  o.expected_rows = 2000;
  CHECK(data::read_csv(d.path("big.csv.gz"), o).rows == 2000);
  const auto size = static_cast<int64_t>(std::filesystem::file_size(d.path("big.csv.gz")));
  d.truncate("big.csv.gz", size - 12);  // cut the gzip trailer and some data
  CHECK_THROWS_WITH_AS(data::read_csv(d.path("big.csv.gz"), o, hint), doctest::Contains("big.csv.gz"), data::data_error);
}

TEST_CASE("csv: only decimal numbers; nothing is read as a prefix, a special value or hexadecimal") {
  testing::FakeDataDir d;
  d.write_text("ok.csv", " -1.5e3 ,+2, .5,7.,1E-2\n", false);
  CHECK(data::read_csv(d.path("ok.csv")).values == std::vector<double>{-1500, 2, 0.5, 7, 0.01});
  d.write_text("tiny.csv", "1e-400,1\n", false);  // underflow rounds to zero like any decimal rounds
  CHECK(data::read_csv(d.path("tiny.csv")).values == std::vector<double>{0, 1});
  // Each was accepted before: strtod reads hexadecimal, and stops at an embedded NUL.
  for (const std::string& bad : {std::string("0x10,1\n"), std::string("1\0junk,2\n", 9), std::string("0x1p3,1\n")}) {
    CAPTURE(bad);
    d.write_text("bad.csv", bad, false);
    CHECK_THROWS_WITH_AS(data::read_csv(d.path("bad.csv")), doctest::Contains("bad.csv:1: field 1 '"), data::data_error);
  }
  for (const char* bad : {"1e400,1\n", "1,-1e309\n", "inf,1\n", "1,NaN\n", "1,,2\n", "1,2 3\n", "1.2.3,1\n", "e5,1\n", "-,1\n"}) {
    CAPTURE(bad);
    d.write_text("bad.csv", bad, false);
    CHECK_THROWS_WITH_AS(data::read_csv(d.path("bad.csv")), doctest::Contains("bad.csv:1: field "), data::data_error);
  }
  // A hostile field is shown bounded and on one line.
  d.write_text("long.csv", "1," + std::string(5000, 'x') + "\x1b[2J\n", false);
  try {
    data::read_csv(d.path("long.csv"));
    FAIL("accepted");
  } catch (const data::data_error& e) {
    CHECK(std::string(e.what()).size() < 300);
  }
}

TEST_CASE("csv: rows and fields beyond the expected counts stop the reader at that line") {
  testing::FakeDataDir d;
  data::CsvOptions o;
  o.expected_rows = 2;
  o.expected_cols = 2;
  d.write_text("long.csv", "1,2\n3,4\n5,6\n7,8\n", false);
  CHECK_THROWS_WITH_AS(data::read_csv(d.path("long.csv"), o), doctest::Contains("long.csv:3: more than the 2 data rows expected"),
                       data::data_error);
  d.write_text("wide.csv", "1,2\n3,4,5,6,7\n", false);
  CHECK_THROWS_WITH_AS(data::read_csv(d.path("wide.csv"), o), doctest::Contains("wide.csv:2: more than the 2 fields expected"),
                       data::data_error);
}
