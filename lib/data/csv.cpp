#include "data/csv.hpp"

#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "data/data_dir.hpp"

namespace bilevel::data {

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what, const std::string& hint) {
  std::string msg = where + ": " + what;
  if (!hint.empty()) msg += "; fetch it with " + hint;
  throw data_error(msg);
}

// One line without its newline; false at the end of the file. Lines of any length.
bool read_line(gzFile f, std::string& line, const std::string& path, const std::string& hint) {
  line.clear();
  char buf[8192];
  while (true) {
    if (gzgets(f, buf, sizeof buf) == nullptr) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      if (errnum != Z_OK) fail(path, std::string("corrupt compressed data (zlib: ") + msg + ")", hint);
      return !line.empty();
    }
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return true;
    }
  }
}

bool is_blank(const std::string& s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

}  // namespace

CsvTable read_csv(const std::string& path, const CsvOptions& o, const std::string& hint) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, "missing", hint);
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), &gzclose);
  if (!f) fail(path, "cannot open for reading", hint);
  CsvTable t;
  t.cols = o.expected_cols;
  std::string line;
  int64_t lineno = 0;
  for (int h = 0; h < o.header_lines; ++h) {
    if (!read_line(f.get(), line, path, hint)) {
      fail(path, "ends before its " + std::to_string(o.header_lines) + " header line(s)", hint);
    }
    ++lineno;
    t.header.push_back(line);
  }
  while (read_line(f.get(), line, path, hint)) {
    ++lineno;
    if (is_blank(line)) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    int64_t fields = 0;
    size_t pos = 0;
    while (true) {
      const size_t end = std::min(line.find(o.delimiter, pos), line.size());
      const std::string field = line.substr(pos, end - pos);
      char* stop = nullptr;
      errno = 0;
      const double v = std::strtod(field.c_str(), &stop);
      const bool trailing_ok = stop && is_blank(stop);
      if (field.empty() || is_blank(field) || !trailing_ok || errno == ERANGE || !std::isfinite(v)) {
        fail(where, "field " + std::to_string(fields + 1) + " '" + field + "' is not a finite number", hint);
      }
      t.values.push_back(v);
      ++fields;
      if (end >= line.size()) break;
      pos = end + 1;
    }
    if (t.cols < 0) t.cols = fields;
    if (fields != t.cols) {
      fail(where, std::to_string(fields) + " fields, expected " + std::to_string(t.cols) +
                      (o.expected_cols < 0 ? " (as in the first data row)" : "") + " — truncated or corrupt row?",
           hint);
    }
    ++t.rows;
  }
  if (t.rows == 0) fail(path, "holds no data rows", hint);
  if (o.expected_rows >= 0 && t.rows != o.expected_rows) {
    fail(path, std::to_string(t.rows) + " data rows, expected " + std::to_string(o.expected_rows) +
                   (t.rows < o.expected_rows ? " (truncated?)" : ""),
         hint);
  }
  return t;
}

}  // namespace bilevel::data
