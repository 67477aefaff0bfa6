#include "run/listing.hpp"

#include <memory>
#include <sstream>

#include "data/data_dir.hpp"
#include "hypergrad/estimator.hpp"
#include "run/train_config.hpp"

namespace bilevel {

namespace {

constexpr size_t list_columns = 100;

nlohmann::json options_json(const std::vector<OptionSpec>& specs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& s : specs) {
    a.push_back({{"key", s.key}, {"kind", s.kind_name()}, {"default", s.default_value}, {"range", s.range_text()},
                 {"help", s.help}});
  }
  return a;
}

void print_options(std::ostream& out, const std::vector<OptionSpec>& specs) {
  for (const auto& s : specs) {
    out << wrap_words(s.key + " = " + (s.default_value.empty() ? "\"\"" : s.default_value) + "  (" + s.range_text() + ")",
                      list_columns, 6)
        << "\n"
        << wrap_words(s.help, list_columns, 10) << "\n";
  }
}

// Every problem built with its defaults (small subsets where it loads data), or the reason it could not be:
// what `list methods` checks each method's refusal against.
struct ProbeProblem {
  std::string name;
  std::unique_ptr<Problem> problem;  // null: not built (`why`)
  std::string why;
};

const std::vector<ProbeProblem>& probe_problems() {
  static const std::vector<ProbeProblem> probes = [] {
    std::vector<ProbeProblem> out;
    for (const ProblemInfo& info : problem_registry()) {
      std::map<std::string, std::string> given;
      for (const auto& s : info.options) {
        if (s.key == "verify_checksums") given[s.key] = "false";
        if (s.key == "n_train" || s.key == "n_val" || s.key == "n_test") given[s.key] = "10";
      }
      ProbeProblem p{info.name, nullptr, ""};
      try {
        p.problem = info.make(Options::resolve(info.name, info.options, given), 0);
      } catch (const data::data_error&) {
        p.why = "not checked (they need their data: make data)";
      } catch (const usage_error& e) {
        p.why = std::string("not checked: ") + e.what();
      }
      out.push_back(std::move(p));
    }
    return out;
  }();
  return probes;
}

// {"applies": [...], "refused": {problem: reason}, "unchecked": {problem: why}}.
nlohmann::json applicability(const MethodInfo& m) {
  nlohmann::json applies = nlohmann::json::array(), refused = nlohmann::json::object(),
                 unchecked = nlohmann::json::object();
  for (const auto& p : probe_problems()) {
    if (!p.problem) {
      unchecked[p.name] = p.why;
      continue;
    }
    const std::string why = m.refusal ? m.refusal(*p.problem) : "";
    if (why.empty()) applies.push_back(p.name);
    else refused[p.name] = why;
  }
  return {{"applies", applies}, {"refused", refused}, {"unchecked", unchecked}};
}

std::string names_text(const nlohmann::json& a) {
  std::string s;
  for (const auto& x : a) s += (s.empty() ? "" : ", ") + x.get<std::string>();
  return s;
}

std::string problems_text() {
  std::ostringstream out;
  out << "Problems (train --problem NAME; options: --set KEY=VALUE). For each: the metrics it logs (every run\n"
         "also logs outer_loss, hypergrad_norm, outer_lr and its method's state), its options with their\n"
         "defaults and ranges, and the run defaults it brings.\n";
  for (const auto& p : problem_registry()) {
    out << "\n" << p.name << "\n" << wrap_words(p.description, list_columns, 4) << "\n";
    std::string metrics;
    for (const auto& m : p.metrics) metrics += (metrics.empty() ? "" : ", ") + m;
    out << wrap_words("metrics: " + metrics, list_columns, 4) << "\n";
    if (!p.run_defaults.empty()) {
      std::string d;
      for (const auto& [k, v] : p.run_defaults) d += (d.empty() ? "" : " ") + k + "=" + v;
      out << wrap_words("run defaults: " + d, list_columns, 4) << "\n";
    }
    print_options(out, p.options);
  }
  return out.str();
}

std::string methods_text() {
  std::ostringstream out;
  out << "Methods (train --method NAME; options: --set KEY=VALUE). For each: the problems it applies to\n"
         "(with the default options) and its options with their defaults and ranges.\n";
  for (const auto& m : method_registry()) {
    out << "\n" << m.name << "\n" << wrap_words(m.description, list_columns, 4) << "\n";
    const nlohmann::json a = applicability(m);
    std::string line = "applies to: " + (a["applies"].empty() ? std::string("none of the built problems") : names_text(a["applies"]));
    std::string refused;
    for (auto it = a["refused"].begin(); it != a["refused"].end(); ++it) refused += (refused.empty() ? "" : ", ") + it.key();
    if (!refused.empty()) line += "; not to: " + refused;
    std::map<std::string, std::string> unchecked;  // reason → problems
    for (auto it = a["unchecked"].begin(); it != a["unchecked"].end(); ++it) {
      std::string& names = unchecked[it->get<std::string>()];
      names += (names.empty() ? "" : ", ") + it.key();
    }
    for (const auto& [why, names] : unchecked) line += "; " + names + " " + why;
    out << wrap_words(line, list_columns, 4) << "\n";
    print_options(out, m.options);
  }
  return out.str();
}

}  // namespace

size_t display_width(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

std::string wrap_words(const std::string& text, size_t width, size_t indent) {
  const std::string pad(indent, ' ');
  std::string out;
  std::istringstream paragraphs(text);
  std::string para;
  bool first_para = true;
  while (std::getline(paragraphs, para)) {
    if (!first_para) out += "\n";
    first_para = false;
    std::istringstream words(para);
    std::string word, line = pad;
    size_t cols = indent;
    while (words >> word) {
      const size_t w = display_width(word);
      if (cols > indent && cols + 1 + w > width) {
        out += line + "\n";
        line = pad;
        cols = indent;
      }
      if (cols > indent) line += " ", ++cols;
      line += word;
      cols += w;
    }
    out += line;
  }
  return out;
}

nlohmann::json list_json(const std::string& what) {
  nlohmann::json out = nlohmann::json::array();
  if (what == "problems") {
    for (const auto& p : problem_registry()) {
      nlohmann::json d = nlohmann::json::object();
      for (const auto& [k, v] : p.run_defaults) d[k] = v;
      out.push_back({{"name", p.name}, {"description", p.description}, {"metrics", p.metrics},
                     {"options", options_json(p.options)}, {"run_defaults", d}});
    }
  } else if (what == "methods") {
    for (const auto& m : method_registry()) {
      nlohmann::json e = {{"name", m.name}, {"description", m.description}, {"options", options_json(m.options)}};
      e.update(applicability(m));
      out.push_back(e);
    }
  } else if (what == "run-options") {
    out = options_json(run_option_specs());
  } else {
    throw option_error("list '" + what + "': expected problems, methods or run-options");
  }
  return out;
}

std::string list_text(const std::string& what, const std::string& format) {
  if (format == "json") return list_json(what).dump(2) + "\n";
  if (format != "text") throw option_error("list --format '" + format + "': expected text or json");
  if (what == "problems") return problems_text();
  if (what == "methods") return methods_text();
  if (what == "run-options") {
    std::ostringstream out;
    out << "Run options (any problem and method; --set KEY=VALUE or a config file's [run] table)\n";
    print_options(out, run_option_specs());
    return out.str();
  }
  throw option_error("list '" + what + "': expected problems, methods or run-options");
}

}  // namespace bilevel
