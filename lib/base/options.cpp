#include "base/options.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace bilevel {

namespace {
std::string fmt_num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

std::string OptionSpec::kind_name() const {
  switch (kind) {
    case OptKind::Int: return "int";
    case OptKind::Real: return "real";
    case OptKind::Bool: return "bool";
    case OptKind::String: return "string";
    case OptKind::Choice: return "choice";
  }
  return "?";
}

std::string OptionSpec::range_text() const {
  std::ostringstream s;
  if (kind == OptKind::Choice) {
    s << "one of: ";
    for (size_t i = 0; i < choices.size(); ++i) s << (i ? ", " : "") << choices[i];
    return s.str();
  }
  if (kind == OptKind::Bool) return "true or false";
  if (kind == OptKind::String) return "text";
  const bool has_min = min > -1e299, has_max = max < 1e299;
  s << (kind == OptKind::Int ? "an integer" : "a number");
  if (has_min && has_max) {
    s << " in " << (min_exclusive ? "(" : "[") << fmt_num(min) << ", " << fmt_num(max) << "]";
  } else if (has_min) {
    s << (min_exclusive ? " > " : " ≥ ") << fmt_num(min);
  } else if (has_max) {
    s << " ≤ " << fmt_num(max);
  }
  for (const auto& w : choices) s << " or '" << w << "'";
  return s.str();
}

OptionSpec opt_int(std::string key, int64_t def, std::string help, double min, double max) {
  OptionSpec o;
  o.key = std::move(key);
  o.kind = OptKind::Int;
  o.default_value = std::to_string(def);
  o.help = std::move(help);
  o.min = min;
  o.max = max;
  return o;
}

OptionSpec opt_real(std::string key, double def, std::string help, double min, double max, bool min_exclusive) {
  OptionSpec o;
  o.key = std::move(key);
  o.kind = OptKind::Real;
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, def);  // shortest text that reads back exactly
  o.default_value = std::string(buf, res.ptr);
  o.help = std::move(help);
  o.min = min;
  o.max = max;
  o.min_exclusive = min_exclusive;
  return o;
}

OptionSpec opt_bool(std::string key, bool def, std::string help) {
  OptionSpec o;
  o.key = std::move(key);
  o.kind = OptKind::Bool;
  o.default_value = def ? "true" : "false";
  o.help = std::move(help);
  return o;
}

OptionSpec opt_string(std::string key, std::string def, std::string help) {
  OptionSpec o;
  o.key = std::move(key);
  o.kind = OptKind::String;
  o.default_value = std::move(def);
  o.help = std::move(help);
  return o;
}

OptionSpec opt_choice(std::string key, std::string def, std::vector<std::string> choices, std::string help) {
  OptionSpec o;
  o.key = std::move(key);
  o.kind = OptKind::Choice;
  o.default_value = std::move(def);
  o.choices = std::move(choices);
  o.help = std::move(help);
  return o;
}

namespace {

// Decimal notation only: strtod alone would also take " 1" (leading space), "0x10" (hexadecimal: 16) and
// "0x1p4", which a config never means.
bool decimal_text(const std::string& text, bool integer) {
  if (text.empty()) return false;
  size_t i = text[0] == '+' || text[0] == '-' ? 1 : 0;
  if (i == text.size()) return false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    const bool ok = (c >= '0' && c <= '9') || (!integer && (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

}  // namespace

double parse_real(const std::string& key, const std::string& text) {
  const char* b = text.c_str();
  char* e = nullptr;
  errno = 0;
  const double v = std::strtod(b, &e);
  if (!decimal_text(text, false) || e == b || *e != '\0' || errno == ERANGE || !std::isfinite(v)) {
    throw option_error("option '" + key + "': '" + text + "' is not a finite decimal number" +
                       (errno == ERANGE ? " (out of range)" : ""));
  }
  return v;
}

int64_t parse_int(const std::string& key, const std::string& text) {
  const char* b = text.c_str();
  char* e = nullptr;
  errno = 0;
  const long long v = std::strtoll(b, &e, 10);
  if (!decimal_text(text, true) || e == b || *e != '\0') {
    throw option_error("option '" + key + "': '" + text + "' is not an integer");
  }
  if (errno == ERANGE) {
    throw option_error("option '" + key + "': " + text + " is out of range (a 64-bit integer, at most " +
                       std::to_string(std::numeric_limits<int64_t>::max()) + ")");
  }
  return static_cast<int64_t>(v);
}

bool parse_bool(const std::string& key, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  throw option_error("option '" + key + "': '" + text + "' is not a boolean (use true or false)");
}

static void validate(const OptionSpec& sp, const std::string& v) {
  auto out_of_range = [&] {
    throw option_error("option '" + sp.key + "': " + v + " is out of range (expected " + sp.range_text() + ")");
  };
  switch (sp.kind) {
    case OptKind::Int: {
      const double x = static_cast<double>(parse_int(sp.key, v));
      if (x < sp.min || x > sp.max) out_of_range();
      break;
    }
    case OptKind::Real: {
      for (const auto& w : sp.choices)
        if (v == w) return;
      double x;
      try {
        x = parse_real(sp.key, v);
      } catch (const option_error&) {
        throw option_error("option '" + sp.key + "': '" + v + "' is not valid (expected " + sp.range_text() + ")");
      }
      if (x < sp.min || x > sp.max || (sp.min_exclusive && x == sp.min)) out_of_range();
      break;
    }
    case OptKind::Bool: parse_bool(sp.key, v); break;
    case OptKind::String: break;
    case OptKind::Choice: {
      for (const auto& c : sp.choices)
        if (v == c) return;
      throw option_error("option '" + sp.key + "': unknown value '" + v + "' (expected " + sp.range_text() + ")");
    }
  }
}

Options Options::resolve(const std::string& owner, const std::vector<OptionSpec>& specs,
                         std::map<std::string, std::string>& given) {
  Options o;
  o.owner_ = owner;
  for (const auto& sp : specs) {
    o.specs_[sp.key] = sp;
    auto it = given.find(sp.key);
    std::string v = sp.default_value;
    if (it != given.end()) {
      v = it->second;
      given.erase(it);
    }
    validate(sp, v);
    o.values_[sp.key] = v;
  }
  return o;
}

const OptionSpec& Options::spec(const std::string& key) const {
  auto it = specs_.find(key);
  BILEVEL_CHECK(it != specs_.end(), owner_ + ": option '" + key + "' was never declared");
  return it->second;
}

int64_t Options::get_int(const std::string& key) const {
  spec(key);
  return parse_int(key, values_.at(key));
}
double Options::get_real(const std::string& key) const {
  spec(key);
  return parse_real(key, values_.at(key));
}
bool Options::get_bool(const std::string& key) const {
  spec(key);
  return parse_bool(key, values_.at(key));
}
const std::string& Options::get_string(const std::string& key) const {
  spec(key);
  return values_.at(key);
}

nlohmann::json Options::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : values_) {
    const OptionSpec& sp = specs_.at(k);
    bool is_word = false;
    for (const auto& w : sp.choices)
      if (v == w) is_word = true;
    if (sp.kind == OptKind::Int) {
      j[k] = parse_int(k, v);
    } else if (sp.kind == OptKind::Real && !is_word) {
      j[k] = parse_real(k, v);
    } else if (sp.kind == OptKind::Bool) {
      j[k] = parse_bool(k, v);
    } else {
      j[k] = v;
    }
  }
  return j;
}

std::pair<std::string, std::string> parse_key_value(const std::string& token) {
  const auto eq = token.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw option_error("--set '" + token + "': expected key=value");
  }
  return {token.substr(0, eq), token.substr(eq + 1)};
}

void throw_unknown_keys(const std::map<std::string, std::string>& left, const std::vector<std::string>& valid_keys) {
  // The first few keys (each cut to 60 bytes) and the count: a file of 400 000 bad keys gives one short line.
  constexpr size_t shown = 5;
  std::ostringstream s;
  s << "unknown option" << (left.size() > 1 ? "s" : "") << " ";
  size_t n = 0;
  for (const auto& [k, v] : left) {
    if (n == shown) break;
    s << (n ? ", " : "") << "'" << (k.size() > 60 ? k.substr(0, 60) + "…" : k) << "'";
    ++n;
  }
  if (left.size() > shown) s << " and " << left.size() - shown << " more (" << left.size() << " in all)";
  s << "; valid options here: ";
  for (size_t i = 0; i < valid_keys.size(); ++i) s << (i ? ", " : "") << valid_keys[i];
  throw option_error(s.str());
}

}  // namespace bilevel
