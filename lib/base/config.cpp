#include "base/config.hpp"

#include <cmath>
#include <sstream>

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

std::map<std::string, std::string> parse_config_toml(std::string_view text, const std::string& path) {
  toml::table tbl;
  try {
    tbl = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << "--config '" << path << "': invalid TOML at line " << e.source().begin.line << ": " << e.description();
    throw option_error(s.str());
  }
  std::map<std::string, std::string> out;
  std::map<std::string, std::string> where;  // key → the table it was given in, to name both places of a repeat
  std::string table = "the top level";
  auto take = [&](const toml::key& k, const toml::node& v) {
    const std::string key(k.str());
    if (out.count(key)) {
      throw option_error("--config '" + path + "': option '" + key + "' is given twice (in " + where[key] + " and in " +
                         table + "); give it once");
    }
    out[key] = toml_scalar_text(v, "config key '" + key + "'");
    where[key] = table;
  };
  for (auto&& [k, v] : tbl) {
    const std::string key(k.str());
    if (auto* sub = v.as_table()) {
      if (key != "problem_options" && key != "method_options" && key != "run") {
        throw option_error("--config '" + path + "': unknown table [" + key +
                           "] (use top-level keys or [problem_options], [method_options], [run])");
      }
      table = "[" + key + "]";
      for (auto&& [k2, v2] : *sub) take(k2, v2);
    } else {
      table = "the top level";
      take(k, v);
    }
  }
  return out;
}

std::string config_value_text(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number_float()) return shortest_text(j.get<double>());
  return j.dump();
}

}  // namespace bilevel
