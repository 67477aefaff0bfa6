// Name lookup with suggestions (lib/base/names.hpp), and the problem and method tables that use it.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "base/names.hpp"
#include "hypergrad/estimator.hpp"
#include "problems/problem.hpp"

using namespace bilevel;

TEST_SUITE("base") {
  TEST_CASE("edit_distance counts insertions, deletions, substitutions and adjacent swaps") {
    CHECK(edit_distance("", "") == 0);
    CHECK(edit_distance("abc", "") == 3);
    CHECK(edit_distance("", "abc") == 3);
    CHECK(edit_distance("exact", "exact") == 0);
    CHECK(edit_distance("exatc", "exact") == 1);    // swap
    CHECK(edit_distance("exct", "exact") == 1);     // deletion
    CHECK(edit_distance("exaact", "exact") == 1);   // insertion
    CHECK(edit_distance("exbct", "exact") == 1);    // substitution
    CHECK(edit_distance("kitten", "sitting") == 3);
    CHECK(edit_distance("ca", "abc") == 3);         // optimal string alignment: no edit of a swapped pair
    CHECK(edit_distance("sgd2", "sgld") == edit_distance("sgld", "sgd2"));
  }

  TEST_CASE("suggest picks a close candidate, a unique prefix, or nothing") {
    const std::vector<std::string> methods = {"fo", "exact", "tbptt", "fmd", "ift-cg", "ift-neumann", "ufo", "sgld"};
    CHECK(suggest("exatc", methods) == "exact");
    CHECK(suggest("EXACT", methods) == "exact");  // case is ignored
    CHECK(suggest("ift_cg", methods) == "ift-cg");
    CHECK(suggest("sgd", methods) == "sgld");
    CHECK(suggest("exact", methods) == "exact");
    CHECK(suggest("ift-neu", methods) == "ift-neumann");  // unique prefix
    CHECK(suggest("ift", methods).empty());               // two candidates start with it
    CHECK(suggest("quadratic", methods).empty());         // nothing close
    CHECK(suggest("x", methods).empty());
    CHECK(suggest("fo", {}).empty());
    // Ties go to the first candidate in table order.
    CHECK(suggest("ab", {"ax", "xb"}) == "ax");
  }

  TEST_CASE("unknown names name themselves, suggest, and list the valid ones") {
    CHECK(unknown_name_message("method", "exatc", {"fo", "exact"}) ==
          "unknown method 'exatc' (did you mean 'exact'?); valid methods: fo, exact");
    CHECK(unknown_name_message("method", "zzz", {"fo", "exact"}) == "unknown method 'zzz'; valid methods: fo, exact");
    CHECK_THROWS_WITH_AS(find_method("exatc"),
                         doctest::Contains("unknown method 'exatc' (did you mean 'exact'?); valid methods: fo, exact"),
                         option_error);
    CHECK_THROWS_WITH_AS(find_problem("sinusiod"), doctest::Contains("(did you mean 'sinusoid'?)"), option_error);
    CHECK_THROWS_WITH_AS(find_problem("nope"), doctest::Contains("valid problems: quadratic"), option_error);
    CHECK(find_method("ufo").name == "ufo");
    CHECK(find_problem("quadratic").name == "quadratic");
  }
}
