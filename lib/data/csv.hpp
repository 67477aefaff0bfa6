#pragma once
// Numeric CSV tables, plain or gzip-compressed (ByteInput reads both, from a file or memory), e.g.
// scikit-learn's iris.csv (one header line "150,4,setosa,versicolor,virginica") and digits.csv.gz (no header).
//
// Fields are decimal numbers: an optional sign, digits with an optional decimal point, an optional exponent,
// blanks around them allowed. Hexadecimal, "inf", "nan", empty fields and anything after the number are
// refused, never read as a prefix or a special value. Values that round to zero (1e-400) are zero; values
// beyond the double range (or the float range, with CsvOptions::float_range) are refused.
//
// Bounds: the table grows with what the input really holds (compressed input is capped at
// kMaxDecompressedBytes); with expected_rows / expected_cols the reader stops at the first row or field
// beyond them instead of reading the rest.
#include <cstdint>
#include <string>
#include <vector>

#include "data/byte_input.hpp"

namespace bilevel::data {

struct CsvOptions {
  int header_lines = 0;        // lines skipped before the data (kept in CsvTable::header)
  char delimiter = ',';
  int64_t expected_rows = -1;  // -1: any number of rows (≥ 1)
  int64_t expected_cols = -1;  // -1: any, but every row the same
  bool float_range = false;    // refuse values of magnitude above FLT_MAX (the values will be stored as float)
};

struct CsvTable {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;       // rows × cols, row-major
  std::vector<std::string> header;  // the skipped header lines
  double at(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * cols + c)]; }
};

// Blank lines are skipped; every other line must hold `cols` numbers. Throws data_error naming `path`
// (and the line number, where one applies), what was expected and `fetch_hint` when the file is missing,
// a field is not a finite decimal number or out of range, a row has another number of fields, the row count
// differs from expected_rows (e.g. a truncated file), or the gzip stream is corrupt.
CsvTable read_csv(const std::string& path, const CsvOptions& options = {}, const std::string& fetch_hint = "");
// The same from any input (memory, for tests and fuzzing); messages name in.name().
CsvTable read_csv(ByteInput& in, const CsvOptions& options = {});

}  // namespace bilevel::data
