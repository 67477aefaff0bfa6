// base/config and base/number_text: TOML values as option text, numbers as text and JSON.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "base/config.hpp"
#include "base/errors.hpp"
#include "base/number_text.hpp"

using namespace bilevel;

namespace {

std::string text_of(const std::string& toml_value) {
  const toml::table t = toml::parse("v = " + toml_value);
  return toml_scalar_text(*t.get("v"), "key 'v'");
}

}  // namespace

TEST_SUITE("base") {
  TEST_CASE("toml_scalar_text: floats as the shortest text that reads back to the same double") {
    CHECK(text_of("0.1") == "0.1");
    CHECK(text_of("1e-8") == "1e-08");
    CHECK(text_of("10.0") == "10");
    CHECK(text_of("0.30000000000000004") == "0.30000000000000004");
    CHECK(text_of("1e300") == "1e+300");
    for (const char* v : {"0.1", "3.0000000000000004", "2.5e-7", "123456789.123456789", "-0.0001", "0.1e-320"}) {
      CAPTURE(v);
      const double want = toml::parse(std::string("v = ") + v)["v"].value<double>().value();
      CHECK(std::strtod(text_of(v).c_str(), nullptr) == want);  // bit-exact round trip
    }
    CHECK(text_of("42") == "42");
    CHECK(text_of("-7") == "-7");
    CHECK(text_of("true") == "true");
    CHECK(text_of("\"adaptive\"") == "adaptive");
  }

  TEST_CASE("toml_scalar_text refuses what is not a finite scalar, naming the key") {
    CHECK_THROWS_WITH_AS(text_of("nan"), "key 'v': values must be finite", option_error);
    CHECK_THROWS_WITH_AS(text_of("inf"), "key 'v': values must be finite", option_error);
    CHECK_THROWS_WITH_AS(text_of("[1, 2]"), doctest::Contains("unsupported value type"), option_error);
    CHECK_THROWS_WITH_AS(text_of("1979-05-27"), doctest::Contains("unsupported value type"), option_error);
  }

  TEST_CASE("json_number: finite numbers, null otherwise") {
    CHECK(json_number(1.5) == 1.5);
    CHECK(json_number(NAN).is_null());
    CHECK(json_number(-INFINITY).is_null());
    CHECK(shortest_text(10.0) == "10");
    CHECK(shortest_text(0.1) == "0.1");
  }
}
