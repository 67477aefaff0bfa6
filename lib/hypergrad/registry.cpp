// The --method table. Each method's row (name, description, options, refusal, factory) is defined in its own
// file, lib/hypergrad/methods/<name>.cpp, as `MethodInfo <name>_method_info()`; this list declares and orders
// them. Adding a method = its file + one X(...) line here.
#include "base/names.hpp"
#include "hypergrad/estimator.hpp"

// X(name) declares `MethodInfo name_method_info()` and puts its row in the table; listing order = `list` order.
#define BILEVEL_METHODS(X) \
  X(fo)                    \
  X(exact)                 \
  X(tbptt)                 \
  X(fmd)                   \
  X(ift_cg)                \
  X(ift_neumann)           \
  X(t1t2)                  \
  X(ufo)                   \
  X(reptile)               \
  X(sgld)                  \
  X(stocbio)               \
  X(amigo)                 \
  X(soba)                  \
  X(saba)                  \
  X(f2sa)                  \
  /* end of the list: a new method is one more X(name) line above */

namespace bilevel {

#define BILEVEL_DECLARE_METHOD(name) MethodInfo name##_method_info();
BILEVEL_METHODS(BILEVEL_DECLARE_METHOD)
#undef BILEVEL_DECLARE_METHOD

const std::vector<MethodInfo>& method_registry() {
#define BILEVEL_METHOD_ROW(name) name##_method_info(),
  static const std::vector<MethodInfo> registry = {BILEVEL_METHODS(BILEVEL_METHOD_ROW)};
#undef BILEVEL_METHOD_ROW
  return registry;
}

const MethodInfo& find_method(const std::string& name) { return find_by_name(method_registry(), name, "method"); }

std::unique_ptr<Estimator> make_estimator(const MethodInfo& method, const Options& opts, const Problem& problem) {
  if (method.refusal) {
    const std::string why = method.refusal(problem);
    if (!why.empty()) throw option_error(why);
  }
  return method.make(opts, problem);
}

std::string Estimator::estimate_part(const Problem&, const Tensor&, const Task&, Rng&, int64_t part) const {
  BILEVEL_CHECK(false, "estimate_part(" + std::to_string(part) + ") of an estimator that does not split");
}

HypergradResult Estimator::combine_parts(const Problem&, const Tensor&, const Task&, Rng&,
                                         const std::vector<std::string>&) const {
  BILEVEL_CHECK(false, "combine_parts of an estimator that does not split");
}

}  // namespace bilevel
