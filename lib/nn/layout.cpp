#include "nn/layout.hpp"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "base/errors.hpp"

namespace bilevel::nn {

ParamEntry ParamLayout::add(const std::string& name, const Shape& shape) {
  for (const auto& e : entries) {
    if (e.name == name) throw internal_error("ParamLayout::add: duplicate parameter name '" + name + "'");
  }
  if (shape.numel() <= 0) {
    throw internal_error("ParamLayout::add: parameter '" + name + "' has empty shape " + shape.str());
  }
  entries.push_back(ParamEntry{name, size, shape});
  size += shape.numel();
  return entries.back();
}

const ParamEntry& ParamLayout::find(const std::string& name) const {
  std::string names;
  for (const auto& e : entries) {
    if (e.name == name) return e;
    names += (names.empty() ? "" : ", ") + e.name;
  }
  throw internal_error("ParamLayout::find: no parameter '" + name + "' (have: " + names + ")");
}

nlohmann::json ParamLayout::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : entries) {
    out.push_back({{"name", e.name}, {"offset", e.offset}, {"shape", e.shape.to_vector()}});
  }
  return out;
}

}  // namespace bilevel::nn
