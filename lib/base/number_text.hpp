#pragma once
// Numbers as text and as JSON: one convention for option values, run names, tables and result files.
#include <nlohmann/json.hpp>
#include <string>

namespace bilevel {

// The shortest decimal text that reads back to exactly `v` (std::to_chars): 10.0 → "10", 0.1 → "0.1",
// 1e-08 → "1e-08". Non-finite values give "nan", "inf", "-inf".
std::string shortest_text(double v);

// JSON numbers must be finite: NaN and ±inf become null.
nlohmann::json json_number(double v);

}  // namespace bilevel
