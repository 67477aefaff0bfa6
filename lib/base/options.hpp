#pragma once
// Typed, documented options: problems, methods and the run loop each declare theirs as OptionSpecs;
// `--set key=value` and config files give text values, resolved and validated here. Every error names
// the offending key or value and what would be valid.
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/errors.hpp"

namespace bilevel {

enum class OptKind { Int, Real, Bool, String, Choice };

struct OptionSpec {
  std::string key;
  OptKind kind = OptKind::Real;
  std::string default_value;
  std::string help;
  std::vector<std::string> choices;  // Choice: the allowed values; Real: extra allowed words (e.g. "adaptive")
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;

  std::string kind_name() const;
  std::string range_text() const;  // "(0, 1]", "one of: a, b", "integer ≥ 1", …
};

OptionSpec opt_int(std::string key, int64_t def, std::string help, double min = -1e300, double max = 1e300);
OptionSpec opt_real(std::string key, double def, std::string help, double min = -1e300, double max = 1e300,
                    bool min_exclusive = false);
OptionSpec opt_bool(std::string key, bool def, std::string help);
OptionSpec opt_string(std::string key, std::string def, std::string help);
OptionSpec opt_choice(std::string key, std::string def, std::vector<std::string> choices, std::string help);

// Resolved values of one owner's options (defaults filled in, every value validated).
class Options {
 public:
  Options() = default;
  // Takes from `given` the keys that `specs` declare (erasing them), validates them and fills defaults.
  static Options resolve(const std::string& owner, const std::vector<OptionSpec>& specs,
                         std::map<std::string, std::string>& given);

  int64_t get_int(const std::string& key) const;
  double get_real(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  bool is_word(const std::string& key, const std::string& word) const { return get_string(key) == word; }
  bool has(const std::string& key) const { return values_.count(key) > 0; }

  // Typed JSON: numbers as numbers, booleans as booleans.
  nlohmann::json to_json() const;
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::string owner_;
  std::map<std::string, std::string> values_;
  std::map<std::string, OptionSpec> specs_;
  const OptionSpec& spec(const std::string& key) const;
};

// Parses "key=value" (as given to --set). Throws option_error naming the token.
std::pair<std::string, std::string> parse_key_value(const std::string& token);

// Error for keys nobody consumed: lists them and every valid key.
[[noreturn]] void throw_unknown_keys(const std::map<std::string, std::string>& left,
                                     const std::vector<std::string>& valid_keys);

// Checked number parsing: the whole text must be a finite number (or integer).
double parse_real(const std::string& key, const std::string& text);
int64_t parse_int(const std::string& key, const std::string& text);
bool parse_bool(const std::string& key, const std::string& text);

}  // namespace bilevel
