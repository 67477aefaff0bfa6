#include "run/listing.hpp"

#include <sstream>

#include "hypergrad/estimator.hpp"
#include "run/train_config.hpp"

namespace bilevel {

namespace {

void print_options(std::ostream& out, const std::vector<OptionSpec>& specs) {
  for (const auto& s : specs) {
    out << "      " << s.key << " = " << s.default_value << "    " << s.help << " (" << s.range_text() << ")\n";
  }
}

}  // namespace

std::string list_text(const std::string& what) {
  std::ostringstream out;
  if (what == "problems") {
    for (const auto& p : problem_registry()) {
      out << p.name << "\n    " << p.description << "\n";
      print_options(out, p.options);
      if (!p.run_defaults.empty()) {
        out << "      run defaults:";
        for (const auto& [k, v] : p.run_defaults) out << " " << k << "=" << v;
        out << "\n";
      }
    }
  } else if (what == "methods") {
    for (const auto& m : method_registry()) {
      out << m.name << "\n    " << m.description << "\n";
      print_options(out, m.options);
    }
  } else if (what == "run-options") {
    out << "run options (set with --set key=value, any problem and method)\n";
    print_options(out, run_option_specs());
  } else {
    throw option_error("list '" + what + "': expected problems, methods or run-options");
  }
  return out.str();
}

}  // namespace bilevel
