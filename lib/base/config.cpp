#include "base/config.hpp"

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdio>
#include <regex>
#include <sstream>

#include "base/errors.hpp"
#include "base/number_text.hpp"

namespace bilevel {

std::string toml_scalar_text(const toml::node& value, const std::string& where, const std::string& hint) {
  if (auto v = value.as_string()) return v->get();
  if (auto v = value.as_integer()) return std::to_string(v->get());
  if (auto v = value.as_floating_point()) {
    if (!std::isfinite(v->get())) throw option_error(where + ": values must be finite");
    return shortest_text(v->get());
  }
  if (auto v = value.as_boolean()) return v->get() ? "true" : "false";
  throw option_error(where + ": unsupported value type (" + hint + ")");
}

namespace {

// The code point of the UTF-8 sequence at text[i] and its length in bytes, or length 0 when the bytes there
// are not UTF-8 (a stray continuation byte, a truncated sequence, an overlong form, a surrogate, a value
// above U+10FFFF).
size_t utf8_char(std::string_view text, size_t i, char32_t& cp) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  size_t n = 0;
  char32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (text.size() - i < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool is_bare_key_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// One pass over the text in TOML's lexical structure: strings (basic, literal, multi-line), comments, and
// outside them the brackets that open values (arrays, inline tables) or, first on a line at the top level,
// a table header, and the tokens where a value stands (after '=', and in arrays). It only has to agree with toml++ on text toml++ accepts up to the point where it would
// fail: once the text is certain to be refused there (an unterminated string, a lone \r), the screen stops
// and leaves the message to toml++.
class TomlScreen {
 public:
  TomlScreen(std::string_view text, const std::string& where) : text_(text), where_(where) {}

  std::string run() {
    check_utf8();
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") i_ = 3;  // a byte order mark, which toml++ skips
    std::string open;  // the arrays ('a') and inline tables ('t') open here: their '[' are not table headers
    bool line_start = true, in_header = false;
    bool value_next = false;  // after '=', or '[' and ',' in an array: a value starts at the next token
    while (i_ < text_.size()) {
      const auto c = static_cast<unsigned char>(text_[i_]);
      if (c == '\n') {
        ++line_, ++i_;
        line_start = open.empty();
        if (open.empty()) value_next = false;
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\r') {
        ++i_;
        continue;
      }
      if (c >= 0x80) {
        refuse("a non-ASCII character outside a string or comment (TOML keys, numbers and whitespace are ASCII; "
               "put text in a quoted string)");
      }
      if (c == '#') {
        while (i_ < text_.size() && text_[i_] != '\n') ++i_;
        continue;
      }
      const bool at_value = value_next && !in_header;
      value_next = false;
      if (c == '"' || c == '\'') {
        line_start = false;
        if (!skip_string()) break;
        continue;
      }
      if (c == '[' && line_start && open.empty()) {
        line_start = false;
        in_header = true;
        if (!check_header_start()) break;
        continue;
      }
      line_start = false;
      if (c == '[') {
        open += 'a';
        value_next = true;
      } else if (c == '{') {
        open += 't';
      } else if (c == ']' && in_header) {
        in_header = false;
      } else if ((c == ']' && !open.empty() && open.back() == 'a') || (c == '}' && !open.empty() && open.back() == 't')) {
        open.pop_back();
      } else if (c == ',') {
        value_next = !open.empty() && open.back() == 'a';
      } else if (c == '=' && !at_value) {
        value_next = !in_header;
      } else if (at_value) {
        check_scalar();
        continue;
      }
      ++i_;
    }
    if (!rewritten_) return std::string(text_);
    out_.append(text_.substr(copied_));
    return out_;
  }

 private:
  std::string_view text_;
  const std::string& where_;
  size_t i_ = 0, line_ = 1;
  std::string out_;  // the text up to copied_ with rewrites, once there is one
  size_t copied_ = 0;
  bool rewritten_ = false;

  [[noreturn]] void refuse(const std::string& what) const {
    throw option_error(where_ + ": invalid TOML at line " + std::to_string(line_) + ": " + what);
  }

  int at(size_t k) const { return k < text_.size() ? static_cast<unsigned char>(text_[k]) : -1; }

  void check_utf8() {
    for (size_t i = 0; i < text_.size();) {
      char32_t cp = 0;
      const size_t n = utf8_char(text_, i, cp);
      if (n == 0) refuse("bytes that are not UTF-8 (a TOML file is UTF-8 text)");
      if (cp == '\n') ++line_;
      i += n;
    }
    line_ = 1;
  }

  // At a value that is not a string, array or inline table: the token up to the next whitespace, ',', ']', '}'
  // or '#' (with "YYYY-MM-DD HH:…", the space of a date-time) must be a TOML scalar — an integer, float,
  // boolean, date or time as TOML 1.0 writes them. toml++ guesses the type from the characters and then asserts
  // what it guessed (a date-time "1979-05-27Tx" reaches parse_time, which asserts a digit), so only
  // well-formed tokens reach it; their ranges (month 13, an integer beyond 64 bits) toml++ checks itself.
  void check_scalar() {
    static const std::regex scalar = [] {
      const std::string zp = "[0-9](_?[0-9])*", dec = "[+-]?(0|[1-9](_?[0-9])*)", exp = "[eE][+-]?" + zp;
      const std::string date = "[0-9]{4}-[0-9]{2}-[0-9]{2}", time = "[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?";
      const std::string offset = "([Zz]|[+-][0-9]{2}:[0-9]{2})";
      return std::regex(dec + "|0x[0-9A-Fa-f](_?[0-9A-Fa-f])*|0o[0-7](_?[0-7])*|0b[01](_?[01])*" +  // integers
                        "|" + dec + "(\\." + zp + "(" + exp + ")?|" + exp + ")|[+-]?(inf|nan)" +     // floats
                        "|true|false" +                                                                   // booleans
                        "|" + date + "([Tt ]" + time + offset + "?)?|" + time,                           // dates, times
                        std::regex::ECMAScript | std::regex::optimize);
    }();
    // toml++'s value terminators (not NUL: toml++ reads on past it, into quotes and non-ASCII characters).
    auto token_end = [&](size_t k) {
      for (; k < text_.size(); ++k) {
        const char c = text_[k];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' || c == ',' || c == ']' ||
            c == '}' || c == '#')
          break;
      }
      return k;
    };
    size_t end = token_end(i_);
    // "1979-05-27 07:32:00": a space between a date and a time belongs to the value (toml++ looks past it too).
    if (end - i_ == 10 && at(i_ + 4) == '-' && at(i_ + 7) == '-' && at(end) == ' ' && std::isdigit(at(end + 1)))
      end = token_end(end + 1);
    const std::string_view token = text_.substr(i_, end - i_);
    constexpr size_t max_token = 128;  // toml++ refuses numbers longer than ~125 characters itself
    if (token.size() > max_token || !std::regex_match(token.begin(), token.end(), scalar)) {
      std::string shown;  // printable ASCII as it is, any other byte as \xNN, so the message stays one clean line
      for (const char ch : token.substr(0, 40)) {
        const auto b = static_cast<unsigned char>(ch);
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02X", static_cast<unsigned>(b));
        shown += b >= 0x20 && b < 0x7F ? std::string(1, ch) : std::string(hex);
      }
      refuse("'" + shown + (token.size() > 40 ? "…" : "") +
             "' is not a TOML value (a value is a quoted string, a number such as 3, -0.5 or 1e-3, true or false, a "
             "date or time such as 1979-05-27T07:32:00Z, a [list] or an {inline table})");
    }
    i_ = end;
  }

  // At '[' first on a line: the header's key must start after "[" or "[[" and spaces. toml++ asserts that
  // (parse_key) rather than checking it. False when toml++ refuses the header itself (end of text, "[ [").
  bool check_header_start() {
    ++i_;
    const size_t after_bracket = i_;
    while (at(i_) == ' ' || at(i_) == '\t') ++i_;
    if (at(i_) == '[') {
      if (i_ != after_bracket) return false;  // "[ [": toml++ refuses the spaces between the brackets
      ++i_;
      while (at(i_) == ' ' || at(i_) == '\t') ++i_;
    }
    const int c = at(i_);
    if (c < 0 || c == ']') return c == ']';  // "[]": toml++ refuses the blank key
    if (!is_bare_key_char(static_cast<unsigned char>(c)) && c != '"' && c != '\'') {
      refuse("a table header must start with a key: [name] or [[name]], the key bare (letters, digits, _ and -) "
             "or quoted");
    }
    return true;
  }

  // At a string's opening quote: moves past the string. False when toml++ will refuse the string (unterminated,
  // a newline in a one-line string, a bad line-ending backslash), so that nothing after it matters.
  bool skip_string() {
    const char q = text_[i_];
    const bool basic = q == '"';
    const bool multi_line = at(i_ + 1) == q && at(i_ + 2) == q;
    i_ += multi_line ? 3 : 1;
    while (i_ < text_.size()) {
      const char c = text_[i_];
      if (c == '\n') {
        if (!multi_line) return false;
        ++line_, ++i_;
      } else if (c == q) {
        size_t n = 0;
        while (at(i_ + n) == q) ++n;
        if (!multi_line) {
          ++i_;
          return true;
        }
        // Up to two quotes just before the closing three belong to the string ("""a""""" is a"").
        i_ += n >= 3 ? std::min<size_t>(n, 5) : n;
        if (n >= 3) return true;
      } else if (c == '\\' && basic) {
        if (!skip_escape(multi_line)) return false;
      } else {
        ++i_;
      }
    }
    return false;
  }

  // At a backslash in a basic string.
  bool skip_escape(bool multi_line) {
    const int d = at(i_ + 1);
    if (d >= 0x80) {
      refuse("a backslash followed by a non-ASCII character in a string (escapes are \\b \\t \\n \\f \\r \\\" \\\\ "
             "\\uXXXX \\UXXXXXXXX)");
    }
    const bool line_ending = d == ' ' || d == '\t' || d == '\n' || d == '\r';
    if (!multi_line || !line_ending) {
      if (d < 0 || d == '\n' || d == '\r') return false;
      i_ += 2;
      return true;
    }
    // A line-ending backslash: spaces and tabs, a line break, then all whitespace is skipped.
    size_t k = i_ + 1;
    while (at(k) == ' ' || at(k) == '\t') ++k;
    if (at(k) >= 0x80) {
      refuse("a line-ending backslash in a multi-line string must be the last thing on its line (only spaces or "
             "tabs may follow it)");
    }
    bool broke = false;
    for (;;) {
      if (at(k) == ' ' || at(k) == '\t') {
        ++k;
      } else if (at(k) == '\n') {
        ++line_, ++k, broke = true;
      } else if (at(k) == '\r' && at(k + 1) == '\n') {
        ++line_, k += 2, broke = true;
      } else {
        break;
      }
    }
    if (!broke) return false;  // something else than a line break after the backslash: toml++ refuses it
    i_ = k;
    if (at(k) >= 0x80) rewrite_as_escape();
    return true;
  }

  // toml++ tests the first character after the skipped whitespace with its Unicode whitespace table, which is
  // undefined for most non-ASCII code points; as \uXXXX (or \UXXXXXXXX) it is the same character to TOML.
  void rewrite_as_escape() {
    char32_t cp = 0;
    const size_t n = utf8_char(text_, i_, cp);
    char esc[16];
    if (cp <= 0xFFFF)
      std::snprintf(esc, sizeof esc, "\\u%04X", static_cast<unsigned>(cp));
    else
      std::snprintf(esc, sizeof esc, "\\U%08X", static_cast<unsigned>(cp));
    out_.append(text_.substr(copied_, i_ - copied_));
    out_.append(esc);
    i_ += n;
    copied_ = i_;
    rewritten_ = true;
  }
};

}  // namespace

std::string screen_toml_text(std::string_view text, const std::string& where) {
  return TomlScreen(text, where).run();
}

toml::table parse_toml_text(std::string_view text, const std::string& path, const std::string& where) {
  const std::string screened = screen_toml_text(text, where);
  try {
    return toml::parse(screened, path);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << where << ": invalid TOML at line " << e.source().begin.line << ": " << e.description();
    throw option_error(s.str());
  }
}

std::map<std::string, std::string> parse_config_toml(std::string_view text, const std::string& path) {
  const toml::table tbl = parse_toml_text(text, path, "--config '" + path + "'");
  std::map<std::string, std::string> out;
  std::map<std::string, std::string> where;  // key → the table it was given in, to name both places of a repeat
  std::string table = "the top level";
  auto take = [&](const toml::key& k, const toml::node& v) {
    const std::string key(k.str());
    if (out.count(key)) {
      throw option_error("--config '" + path + "': option '" + key + "' is given twice (in " + where[key] + " and in " +
                         table + "); give it once");
    }
    out[key] = toml_scalar_text(v, "config key '" + key + "'");
    where[key] = table;
  };
  for (auto&& [k, v] : tbl) {
    const std::string key(k.str());
    if (auto* sub = v.as_table()) {
      if (key != "problem_options" && key != "method_options" && key != "run") {
        throw option_error("--config '" + path + "': unknown table [" + key +
                           "] (use top-level keys or [problem_options], [method_options], [run])");
      }
      table = "[" + key + "]";
      for (auto&& [k2, v2] : *sub) take(k2, v2);
    } else {
      table = "the top level";
      take(k, v);
    }
  }
  return out;
}

std::string config_value_text(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number_float()) return shortest_text(j.get<double>());
  return j.dump();
}

}  // namespace bilevel
