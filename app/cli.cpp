#include "cli.hpp"

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "base/names.hpp"
#include "run/listing.hpp"

namespace bilevel::app {

namespace {

// Left column of option lines: "  --budget-cost N" padded to this width.
constexpr size_t option_column = 28;
constexpr size_t subcommand_column = 12;

class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter() { column_width(option_column); }

  std::string make_option_opts(const CLI::Option* opt) const override {
    std::string out;
    if (opt->get_positional()) return out;  // its name is its placeholder
    if (opt->get_type_size() != 0) {
      if (!opt->get_type_name().empty()) out += " " + opt->get_type_name();
      if (opt->get_expected_max() == CLI::detail::expected_max_vector_size) out += " ...";
    }
    return out;
  }

  std::string make_option_desc(const CLI::Option* opt) const override {
    std::string desc = opt->get_description();
    if (opt->get_required()) desc += " (required)";
    else if (opt->get_type_size() != 0 && !opt->get_default_str().empty()) desc += " (default: " + opt->get_default_str() + ")";
    return desc;
  }

  std::string make_option(const CLI::Option* opt, bool is_positional) const override {
    std::string left = "  " + make_option_name(opt, is_positional) + make_option_opts(opt);
    return hang(left, make_option_desc(opt));
  }

  // A subcommand in a list: its name and the first sentence of its description.
  std::string make_subcommand(const CLI::App* sub) const override {
    const std::string d = sub->get_description();
    const auto end = d.find(". ");
    return hang("  " + sub->get_name(), end == std::string::npos ? d : d.substr(0, end + 1), subcommand_column);
  }

  std::string make_description(const CLI::App* app) const override {
    const std::string d = app->get_description();
    return d.empty() ? std::string() : wrap_words(d, help_columns, 0) + "\n\n";
  }

  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::string out = "Usage: " + name;
    if (!app->get_options([](const CLI::Option* o) { return o->nonpositional(); }).empty()) out += " [OPTIONS]";
    for (const CLI::Option* o : app->get_options([](const CLI::Option* opt) { return opt->get_positional(); })) {
      std::string p = o->get_name(true) + (o->get_expected_max() >= CLI::detail::expected_max_vector_size ? "..." : "");
      out += " " + (o->get_required() ? p : "[" + p + "]");
    }
    if (!app->get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); }).empty()) out += " SUBCOMMAND";
    return out + "\n";
  }

 private:
  // "  --flag VALUE              description…" with the description wrapped beside (or below) the left column.
  static std::string hang(const std::string& left, const std::string& desc, size_t column = option_column) {
    const std::string body = wrap_words(desc, help_columns, column);
    const size_t width = display_width(left);
    if (width + 1 >= column) return left + "\n" + body + "\n";
    return left + body.substr(width) + "\n";
  }
};

std::string joined(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : sep) + x;
  return out;
}

// The subcommand (and sub-subcommand) argv names, and the App it leads to.
const CLI::App* chosen_app(const CLI::App& app, int argc, char** argv, std::string& path) {
  const CLI::App* cur = &app;
  path = app.get_name();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.empty() || a[0] == '-') break;
    const auto subs = cur->get_subcommands([&](const CLI::App* s) { return s->get_name() == a; });
    if (subs.empty()) break;
    cur = subs.front();
    path += " " + a;
  }
  return cur;
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); }))
    names.push_back(s->get_name());
  return names;
}

// Flags renamed in a release: the old spelling is refused with the new one and what it means.
std::string renamed_flag(const std::string& flag) {
  if (flag == "--budget-grad-evals") {
    return "--budget-grad-evals was renamed --budget-cost: it counts gradient evaluations + Hessian-vector products "
           "(full-batch units), the `cost` of curve.jsonl and result.json";
  }
  return "";
}

const CLI::Option* find_flag(const CLI::App& app, const std::string& name) {
  for (const CLI::Option* o : app.get_options({})) {
    for (const auto& l : o->get_lnames())
      if ("--" + l == name) return o;
    if (o->get_positional() && o->get_name(true) == name) return o;
  }
  return nullptr;
}

std::string see_help(const std::string& path) { return " (see " + path + " --help)"; }

}  // namespace

std::shared_ptr<CLI::Formatter> help_formatter() { return std::make_shared<HelpFormatter>(); }

CLI::Validator integer_at_least(long long min) {
  return CLI::Validator(
      [min](std::string& s) -> std::string {
        errno = 0;
        char* end = nullptr;
        const long long v = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || errno == ERANGE) return "'" + s + "' is not an integer";
        if (v < min) return "must be ≥ " + std::to_string(min) + ", got " + s;
        return "";
      },
      "");
}

CLI::Validator unsigned_integer() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        for (char c : s)
          if (c < '0' || c > '9') return "'" + s + "' is not an integer from 0 to 18446744073709551615";
        errno = 0;
        char* end = nullptr;
        (void)std::strtoull(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || errno == ERANGE) return "'" + s + "' is not an integer from 0 to 18446744073709551615";
        return "";
      },
      "");
}

CLI::Validator non_negative_number() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        errno = 0;
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0' || errno == ERANGE || !(v == v) || v > 1e300) return "'" + s + "' is not a finite number";
        if (v < 0) return "must be ≥ 0, got " + s;
        return "";
      },
      "");
}

CLI::Validator one_of(std::vector<std::string> choices) {
  return CLI::Validator(
      [choices](std::string& s) -> std::string {
        for (const auto& c : choices)
          if (c == s) return "";
        const std::string hint = suggest(s, choices);
        return "unknown value '" + s + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; expected " +
               joined(choices, ", ");
      },
      "");
}

void add_run_flags(CLI::App* sub, TrainParams& p, const std::string& steps, const std::string& sets) {
  sub->add_option("--problem", p.problem, "Problem (bilevel-opt list problems)")->type_name("PROBLEM");
  sub->add_option("--config", p.config_file, "TOML file of options (command-line values win)")->type_name("FILE");
  sub->add_option("--set", p.sets, sets)
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  sub->add_option("--seed", p.seed, "Random seed: initialization, task sampling, estimator coins")
      ->type_name("SEED")
      ->capture_default_str()
      ->check(unsigned_integer());
  sub->add_option("--steps", p.steps, "Budget: " + steps + " (1000 when no budget is given)")
      ->type_name("N")
      ->check(integer_at_least(1));
  sub->add_option("--budget-cost", p.budget_cost,
                  "Budget: cost = gradient evaluations + Hessian-vector products, in full-batch units (the "
                  "equal-compute comparison; curve.jsonl and result.json record it as `cost`)")
      ->type_name("COST")
      ->check(non_negative_number());
  sub->add_option("--budget-seconds", p.budget_seconds, "Budget: estimator seconds (evaluation excluded)")
      ->type_name("SECONDS")
      ->check(non_negative_number());
  sub->add_option("--threads", p.threads, "Threads for a meta-batch's tasks (same results for any N)")
      ->type_name("N")
      ->capture_default_str()
      ->check(integer_at_least(1));
  sub->add_option("--out", p.out_dir, "Run directory to write")->type_name("DIR");
  sub->add_flag("--force", p.force, "Overwrite a run directory that already holds a result");
  sub->add_flag("--quiet", p.quiet, "No progress line");
}

std::string examples_footer(const std::vector<std::string>& lines) {
  std::string out = "Examples:\n";
  for (const auto& l : lines) out += "  " + l + "\n";
  return out;
}

std::string top_usage(const CLI::App& app) {
  std::ostringstream s;
  s << wrap_words(app.get_description(), help_columns, 0) << "\n\n"
    << "Usage: bilevel-opt SUBCOMMAND [OPTIONS]    (bilevel-opt SUBCOMMAND --help: its options)\n\nSubcommands:\n";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* x) { return !x->get_name().empty(); })) {
    s << HelpFormatter().make_subcommand(sub);
  }
  s << "\n" << app.get_footer();
  return s.str();
}

std::string precheck_arguments(const CLI::App& app, int argc, char** argv) {
  if (argc >= 2) {
    const std::string first = argv[1];
    const auto names = subcommand_names(app);
    if (!first.empty() && first[0] != '-' && std::find(names.begin(), names.end(), first) == names.end()) {
      return unknown_name_message("subcommand", first, names) + see_help("bilevel-opt");
    }
  }
  std::string path;
  const CLI::App* sub = chosen_app(app, argc, argv, path);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) continue;
    const std::string flag = a.substr(0, a.find('='));
    if (find_flag(*sub, flag) || (sub != &app && find_flag(app, flag))) continue;
    const std::string renamed = renamed_flag(flag);
    if (!renamed.empty()) return renamed;
    std::vector<std::string> flags;
    for (const CLI::Option* o : sub->get_options({}))
      for (const auto& l : o->get_lnames())
        if (l != "help") flags.push_back("--" + l);
    const std::string hint = suggest(flag, flags);
    return "unknown option '" + flag + "' for " + path + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
           "; its options: " + joined(flags, ", ");
  }
  return "";
}

std::string parse_error_message(const CLI::ParseError& e, const CLI::App& app, int argc, char** argv) {
  std::string path;
  const CLI::App* sub = chosen_app(app, argc, argv, path);
  std::string what = e.what();
  const std::string name = e.get_name();
  if (name == "ConversionError" && what.rfind("Could not convert: ", 0) == 0) {
    const std::string rest = what.substr(19);
    const auto eq = rest.find(" = ");
    const std::string flag = rest.substr(0, eq), value = eq == std::string::npos ? "" : rest.substr(eq + 3);
    const CLI::Option* o = find_flag(*sub, flag);
    what = flag + ": '" + value + "' is not a valid " + (o ? o->get_type_name() : std::string("value"));
  } else if (name == "ArgumentMismatch") {
    const std::string flag = what.substr(0, what.find(':'));
    const CLI::Option* o = find_flag(*sub, flag);
    what = flag + " needs a value" + (o && !o->get_type_name().empty() ? " (" + o->get_type_name() + ")" : "");
  } else if (name == "RequiredError" && what == "A subcommand is required") {
    what = path + " needs a subcommand: " + joined(subcommand_names(*sub), ", ");
  } else if (name == "RequiredError") {
    const std::string flag = what.substr(0, what.find(' '));
    const CLI::Option* o = find_flag(*sub, flag);
    const std::string shown = o ? flag + (o->get_positional() ? "" : " " + o->get_type_name()) : flag;
    what = path + ": " + shown + " is required";
  } else if (name == "ExtrasError") {
    what = path + ": unexpected argument" + what.substr(what.find(':'));
  }
  for (char& c : what)
    if (c == '\n') c = ' ';
  return what + see_help(path);
}

}  // namespace bilevel::app
