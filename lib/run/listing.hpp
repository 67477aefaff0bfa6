#pragma once
// `bilevel-opt list problems|methods|run-options`: every name with its description, the metrics a problem
// logs, the problems a method applies to, and every option with its default and valid range — as text wrapped
// to 100 columns, or as JSON for scripts.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace bilevel {

// `what`: problems | methods | run-options; `format`: text | json. Throws option_error for anything else.
std::string list_text(const std::string& what, const std::string& format = "text");
nlohmann::json list_json(const std::string& what);

// Columns `text` takes on a terminal: UTF-8 code points (every character of ours is one column wide).
size_t display_width(const std::string& text);
// `text` wrapped at word boundaries to lines of at most `width` columns, each starting with `indent` spaces;
// its own newlines are kept. No trailing newline.
std::string wrap_words(const std::string& text, size_t width, size_t indent);

}  // namespace bilevel
