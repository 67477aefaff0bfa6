#pragma once
// TOML values as option text: run config files (`train --config`) and sweep specs give options the same
// text that `--set key=value` would, so a value means the same wherever it is written.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <toml++/toml.h>

namespace bilevel {

// Text of a TOML scalar: a string as it is, an integer in decimal, a float as the shortest text that reads
// back to exactly the same double (0.1 → "0.1", 1e-8 → "1e-08", 10.0 → "10"), a boolean as true/false.
// Throws option_error "<where>: values must be finite" for nan/inf, and "<where>: unsupported value type
// (<hint>)" for anything else (arrays, tables, dates); `where` names the file and the key.
std::string toml_scalar_text(const toml::node& value, const std::string& where,
                             const std::string& hint = "use a string, number or boolean");

// A config.json value as option text: strings as they are, numbers as the shortest exact text (10.0 → "10"),
// booleans true/false, null "".
std::string config_value_text(const nlohmann::json& j);

// TOML text screened for what toml++ 3 (Debian's 3.3) mishandles, then parsed: the one way run configs and
// sweep specs read TOML. toml++ reaches undefined behaviour on some invalid input (a TOML_UNREACHABLE in its
// Unicode whitespace table for a non-ASCII character where whitespace may stand; failed internal assertions
// in parse_key for a table header such as "[[[a]]" and in parse_time for a date-time such as "1979-05-27Tx"),
// so the text is first checked to be UTF-8 with non-ASCII characters only inside strings and comments (as
// TOML 1.0 requires), every table header to start with a key, and every value that is not a string, array or
// inline table to be a TOML 1.0 number, boolean, date or time. The one valid construct toml++ would trip on — a non-ASCII character first on a line
// continued by a line-ending backslash in a multi-line basic string — is handed to toml++ as its \u escape,
// which means the same string. `where` names the file in messages ("--config 'PATH'", "sweep spec 'PATH'"):
// option_error "<where>: invalid TOML at line N: <what is wrong and what is valid>"; toml++'s own refusals
// read the same way. `path` is the source path toml++ records.
toml::table parse_toml_text(std::string_view text, const std::string& path, const std::string& where);

// The screen alone: the text to give toml++ (the input, or the input with the rewrite described above), or
// option_error as above. Exposed for tests.
std::string screen_toml_text(std::string_view text, const std::string& where);

// A run config file's text (`train --config FILE`): top-level keys and the tables [problem_options],
// [method_options] and [run], flattened to key → value text. Throws option_error "--config 'PATH': …" for
// invalid TOML (with the line), an unknown table, a key given twice (in two tables, or twice in one) or a
// value that is not a scalar. `path` only names the file in messages.
std::map<std::string, std::string> parse_config_toml(std::string_view text, const std::string& path);

}  // namespace bilevel
