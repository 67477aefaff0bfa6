#pragma once
// TOML values as option text: run config files (`train --config`) and sweep specs give options the same
// text that `--set key=value` would, so a value means the same wherever it is written.
#include <string>
#include <toml++/toml.h>

namespace bilevel {

// Text of a TOML scalar: a string as it is, an integer in decimal, a float as the shortest text that reads
// back to exactly the same double (0.1 → "0.1", 1e-8 → "1e-08", 10.0 → "10"), a boolean as true/false.
// Throws option_error "<where>: values must be finite" for nan/inf, and "<where>: unsupported value type
// (<hint>)" for anything else (arrays, tables, dates); `where` names the file and the key.
std::string toml_scalar_text(const toml::node& value, const std::string& where,
                             const std::string& hint = "use a string, number or boolean");

}  // namespace bilevel
