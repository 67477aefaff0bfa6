#include "base/config.hpp"

#include <cmath>

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

}  // namespace bilevel
