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
  CHECK_THROWS_WITH_AS(data::read_csv(d.path("bad.csv"), {}, hint), doctest::Contains("bad.csv:2: field 2 'x5' is not a finite number"),
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
