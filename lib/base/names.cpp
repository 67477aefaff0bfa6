#include "base/names.hpp"

#include <algorithm>
#include <cctype>

namespace bilevel {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

int64_t edit_distance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  // d[i][j]: distance between the first i bytes of a and the first j of b; three rows suffice for the swap.
  std::vector<int64_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= m; ++j) {
      const int64_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::string suggest(std::string_view name, const std::vector<std::string>& candidates) {
  const std::string key = lower(name);
  const int64_t limit = std::max<int64_t>(1, static_cast<int64_t>(key.size()) / 3);
  const std::string* best = nullptr;
  int64_t best_d = limit + 1;
  for (const auto& c : candidates) {
    const int64_t d = edit_distance(key, lower(c));
    if (d < best_d) best = &c, best_d = d;
  }
  if (best) return *best;
  if (key.size() < 2) return "";
  const std::string* prefixed = nullptr;
  for (const auto& c : candidates) {
    if (lower(c).rfind(key, 0) != 0) continue;
    if (prefixed) return "";  // two candidates start with it: no single guess
    prefixed = &c;
  }
  return prefixed ? *prefixed : "";
}

std::string unknown_name_message(const std::string& kind, const std::string& name, const std::vector<std::string>& valid) {
  std::string s = "unknown " + kind + " '" + name + "'";
  const std::string hint = suggest(name, valid);
  if (!hint.empty()) s += " (did you mean '" + hint + "'?)";
  s += "; valid " + kind + "s: ";
  for (size_t i = 0; i < valid.size(); ++i) s += (i ? ", " : "") + valid[i];
  return s;
}

}  // namespace bilevel
