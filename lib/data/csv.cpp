#include "data/csv.hpp"

#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdlib>

#include "data/data_dir.hpp"

namespace bilevel::data {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

bool is_blank(const std::string& s) {
  for (char c : s)
    if (!is_blank(c)) return false;
  return true;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)? — the whole of [b, e).
bool is_decimal(const char* b, const char* e) {
  if (b < e && (*b == '+' || *b == '-')) ++b;
  const char* mantissa = b;
  int digits = 0;
  while (b < e && is_digit(*b)) ++b, ++digits;
  if (b < e && *b == '.') {
    ++b;
    while (b < e && is_digit(*b)) ++b, ++digits;
  }
  if (digits == 0 || b == mantissa) return false;
  if (b < e && (*b == 'e' || *b == 'E')) {
    ++b;
    if (b < e && (*b == '+' || *b == '-')) ++b;
    const char* exp_digits = b;
    while (b < e && is_digit(*b)) ++b;
    if (b == exp_digits) return false;
  }
  return b == e;
}

// Parses one field; returns an empty string on success, else why it is refused.
std::string parse_field(const std::string& field, bool float_range, double& v) {
  const char* b = field.data();
  const char* e = b + field.size();
  while (b < e && is_blank(*b)) ++b;
  while (e > b && is_blank(e[-1])) --e;
  if (!is_decimal(b, e)) return "is not a finite decimal number (like 5.1, -2 or 1.5e-3)";
  const std::string number(b, e);  // strtod needs a terminated string; is_decimal excluded everything else
  errno = 0;
  v = std::strtod(number.c_str(), nullptr);
  // ERANGE with a tiny result is underflow: the value rounds to zero (or a subnormal), like any decimal rounds.
  if ((errno == ERANGE && std::fabs(v) > 1) || !std::isfinite(v)) return "is beyond the range of double";
  if (float_range && std::fabs(v) > FLT_MAX) return "is beyond the range of float (magnitude at most 3.4e+38)";
  return "";
}

}  // namespace

CsvTable read_csv(const std::string& path, const CsvOptions& o, const std::string& hint) {
  ByteInput in = ByteInput::open_file(path, hint);
  return read_csv(in, o);
}

CsvTable read_csv(ByteInput& in, const CsvOptions& o) {
  CsvTable t;
  t.cols = o.expected_cols;
  std::string line;
  int64_t lineno = 0;
  for (int h = 0; h < o.header_lines; ++h) {
    if (!in.read_line(line)) in.fail("ends before its " + std::to_string(o.header_lines) + " header line(s)");
    ++lineno;
    t.header.push_back(line);
  }
  while (in.read_line(line)) {
    ++lineno;
    if (is_blank(line)) continue;
    const auto fail_here = [&](const std::string& what) { in.fail(what, lineno); };
    if (o.expected_rows >= 0 && t.rows == o.expected_rows) {
      fail_here("more than the " + std::to_string(o.expected_rows) + " data rows expected");
    }
    int64_t fields = 0;
    size_t pos = 0;
    while (true) {
      const size_t end = std::min(line.find(o.delimiter, pos), line.size());
      const std::string field = line.substr(pos, end - pos);
      if (o.expected_cols >= 0 && fields == o.expected_cols) {
        fail_here("more than the " + std::to_string(o.expected_cols) + " fields expected");
      }
      double v = 0;
      const std::string refused = parse_field(field, o.float_range, v);
      if (!refused.empty()) fail_here("field " + std::to_string(fields + 1) + " '" + printable(field) + "' " + refused);
      t.values.push_back(v);
      ++fields;
      if (end >= line.size()) break;
      pos = end + 1;
    }
    if (t.cols < 0) t.cols = fields;
    if (fields != t.cols) {
      fail_here(std::to_string(fields) + " fields, expected " + std::to_string(t.cols) +
                (o.expected_cols < 0 ? " (as in the first data row)" : "") + " — truncated or corrupt row?");
    }
    ++t.rows;
  }
  if (t.rows == 0) in.fail("holds no data rows");
  if (o.expected_rows >= 0 && t.rows != o.expected_rows) {
    in.fail(std::to_string(t.rows) + " data rows, expected " + std::to_string(o.expected_rows) +
            (t.rows < o.expected_rows ? " (truncated?)" : ""));
  }
  return t;
}

}  // namespace bilevel::data
