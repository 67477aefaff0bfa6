#pragma once
// Numeric CSV tables, plain or gzip-compressed (zlib's gzgets reads both), e.g. scikit-learn's
// iris.csv (one header line "150,4,setosa,versicolor,virginica") and digits.csv.gz (no header).
#include <cstdint>
#include <string>
#include <vector>

namespace bilevel::data {

struct CsvOptions {
  int header_lines = 0;        // lines skipped before the data (kept in CsvTable::header)
  char delimiter = ',';
  int64_t expected_rows = -1;  // -1: any number of rows (≥ 1)
  int64_t expected_cols = -1;  // -1: any, but every row the same
};

struct CsvTable {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;       // rows × cols, row-major
  std::vector<std::string> header;  // the skipped header lines
  double at(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * cols + c)]; }
};

// Blank lines are skipped; every other line must hold `cols` numbers. Throws data_error naming `path`
// (and the line number, where one applies), what was expected and `fetch_hint` when the file is missing,
// a field is not a finite number, a row has another number of fields, the row count differs from
// expected_rows (e.g. a truncated file), or the gzip stream is corrupt.
CsvTable read_csv(const std::string& path, const CsvOptions& options = {}, const std::string& fetch_hint = "");

}  // namespace bilevel::data
