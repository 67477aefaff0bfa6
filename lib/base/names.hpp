#pragma once
// Looking a name up in a table (problems, methods, subcommands, option keys), with a "did you mean" for a
// misspelt one: every unknown-name message in the program is built here, so they all read the same.
#include <string>
#include <string_view>
#include <vector>

#include "base/errors.hpp"

namespace bilevel {

// Optimal-string-alignment distance: the fewest insertions, deletions, substitutions and swaps of two
// adjacent characters (each costs 1) that turn `a` into `b`, counted in bytes.
int64_t edit_distance(std::string_view a, std::string_view b);

// The candidate `name` was most likely meant to be, or "" when none is close: the nearest by edit_distance
// if it is within max(1, |name|/3) edits (the first such in `candidates` on a tie), else the one candidate
// that starts with `name` (|name| ≥ 2). Case is ignored. An exact match is returned as itself.
std::string suggest(std::string_view name, const std::vector<std::string>& candidates);

// "unknown <kind> '<name>' (did you mean '<X>'?); valid <kind>s: a, b, c" (the hint only when suggest finds one).
std::string unknown_name_message(const std::string& kind, const std::string& name, const std::vector<std::string>& valid);

// The entry of `table` whose `.name` equals `name`. Throws option_error(unknown_name_message(kind, …)).
template <class Entry>
const Entry& find_by_name(const std::vector<Entry>& table, const std::string& name, const std::string& kind) {
  for (const Entry& e : table)
    if (e.name == name) return e;
  std::vector<std::string> names;
  names.reserve(table.size());
  for (const Entry& e : table) names.push_back(e.name);
  throw option_error(unknown_name_message(kind, name, names));
}

}  // namespace bilevel
