#pragma once
// `bilevel-opt list problems|methods|run-options`: every name with its one-line description, and every
// option with its default and valid range.
#include <string>

namespace bilevel {

// `what`: problems | methods | run-options. Throws option_error for anything else.
std::string list_text(const std::string& what);

}  // namespace bilevel
