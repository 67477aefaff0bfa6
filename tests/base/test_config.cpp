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

  // The screen in front of toml++ (parse_toml_text): what toml++ 3.3 would reach undefined behaviour on is
  // refused with a line and what is valid; valid TOML, UTF-8 in strings, keys and comments included, parses.
  // Without the screen the first three refusals below are a TOML_UNREACHABLE and a failed assertion inside
  // toml++ (the fuzz targets config_toml and sweep_spec found them; fuzz/corpus/*/toml_* keep them).
  TEST_CASE("parse_toml_text refuses what toml++ mishandles, naming the file and the line") {
    auto refusal = [](const std::string& text) -> std::string {
      try {
        parse_toml_text(text, "f.toml", "--config 'f.toml'");
      } catch (const option_error& e) {
        return e.what();
      }
      return "accepted";
    };
    CHECK(refusal("[[[ip]]\n") ==
          "--config 'f.toml': invalid TOML at line 1: a table header must start with a key: [name] or [[name]], "
          "the key bare (letters, digits, _ and -) or quoted");
    CHECK(refusal("a = 1\n[=]\n").find("at line 2: a table header must start with a key") != std::string::npos);
    CHECK(refusal("a = 1\n\n b = 2 \xc3\xa9\n") ==
          "--config 'f.toml': invalid TOML at line 3: a non-ASCII character outside a string or comment (TOML keys, "
          "numbers and whitespace are ASCII; put text in a quoted string)");
    CHECK(refusal("[t\xc3\xa9]\n").find("at line 1: a non-ASCII character outside") != std::string::npos);
    CHECK(refusal("a\xc2\xa0= 1\n").find("at line 1: a non-ASCII character outside") != std::string::npos);
    CHECK(refusal("a = \"x\"\nb = \"\xff\"\n") ==
          "--config 'f.toml': invalid TOML at line 2: bytes that are not UTF-8 (a TOML file is UTF-8 text)");
    CHECK(refusal("a = \"\xed\xa0\x80\"\n").find("not UTF-8") != std::string::npos);  // a surrogate
    CHECK(refusal("a = \"\xc0\xaf\"\n").find("not UTF-8") != std::string::npos);      // an overlong '/'
    CHECK(refusal("s = \"\"\"x\\\xc3\xa9\"\"\"\n").find("at line 1: a backslash followed by a non-ASCII") !=
          std::string::npos);
    CHECK(refusal("s = \"\"\"\nx\\  \xc3\xa9\"\"\"\n").find("at line 2: a line-ending backslash") != std::string::npos);
    // Where a value stands, a token that is not a TOML scalar (toml++ guesses a type from its characters and
    // asserts what it guessed: "1979-05-27Tx" reached an assertion in parse_time).
    CHECK(refusal("a = 1\nd = 1979-05-27Tx\n") ==
          "--config 'f.toml': invalid TOML at line 2: '1979-05-27Tx' is not a TOML value (a value is a quoted string, "
          "a number such as 3, -0.5 or 1e-3, true or false, a date or time such as 1979-05-27T07:32:00Z, a [list] "
          "or an {inline table})");
    for (const char* v : {"1979-05-27T", "07:32", "0x", "1__0", "01", "1.", ".5", "1e", "tru", "0x1p3", "=", "1979-05-27 7"}) {
      CAPTURE(v);
      CHECK(refusal(std::string("a = [1, ") + v + "]\n").find("is not a TOML value") != std::string::npos);
      CHECK(refusal(std::string("a = {b = ") + v + "}\n").find("is not a TOML value") != std::string::npos);
    }
    // A NUL does not end a value for toml++, which reads on into the quote and the non-ASCII character after it.
    // The token is shown with such bytes escaped.
    CHECK(refusal(std::string("d = 19\0\"\xce\xbb\"\n", 12)).find("at line 1: '19\\x00\"\\xCE\\xBB\"' is not a TOML value") !=
          std::string::npos);
    // toml++'s own refusals keep their wording, behind the same prefix.
    CHECK(refusal("[ [a]]\n").rfind("--config 'f.toml': invalid TOML at line 1: ", 0) == 0);
    CHECK(refusal("a = \"unterminated\n[[[b]]\n").find("line 1") != std::string::npos);
  }

  TEST_CASE("parse_toml_text: valid TOML parses as before, UTF-8 in strings, keys and comments included") {
    const std::string text =
        "\xef\xbb\xbf# caf\xc3\xa9 \xf0\x9f\x98\x80 \"[[[\n"  // a byte order mark, a comment with UTF-8 and brackets
        "a = \"\xc3\xa9t\xc3\xa9 # [x]\"  # \xe6\x97\xa5\n"
        "\"cl\xc3\xa9\" = 'lit\\eral \xc3\xa9'\n"
        "m = \"\"\"two \"\" quotes\"\"\"\"\"\n"
        "arr = [\n  [1, 2],\n  [\"]\", '['],\n]\n"
        "[[ tables ]]\n"
        "[ \"q\xc3\xa9\" . r ]\n"
        "x = { y = [1] }\r\n"
        "[scalars]\n"
        "1979-05-27 = [0, -17, +42, 1_000, 0xDEAD_beef, 0o755, 0b1101, 3.14, -0.5, 1e10, 6.02e+23, 1_0.0_1e1_0,\n"
        "  -inf, nan, true, false, 1979-05-27, 1979-05-27T07:32:00, 1979-05-27 07:32:00.999, 1979-05-27t00:32:00-07:00,\n"
        "  1979-05-27 07:32:00Z, 07:32:00, 9223372036854775807]\n";
    const toml::table t = parse_toml_text(text, "f.toml", "--config 'f.toml'");
    CHECK(t["a"].value<std::string>() == "\xc3\xa9t\xc3\xa9 # [x]");
    CHECK(t["cl\xc3\xa9"].value<std::string>() == "lit\\eral \xc3\xa9");
    CHECK(t["m"].value<std::string>() == "two \"\" quotes\"\"");
    CHECK(t["arr"][1][0].value<std::string>() == "]");
    CHECK(t["tables"].is_array_of_tables());
    CHECK(t["q\xc3\xa9"]["r"]["x"]["y"][0].value<int64_t>() == 1);
    const toml::array* scalars_ptr = t["scalars"]["1979-05-27"].as_array();
    REQUIRE(scalars_ptr != nullptr);
    const toml::array& scalars = *scalars_ptr;
    CHECK(scalars.size() == 23);
    CHECK(scalars[4].value<int64_t>() == 0xDEADBEEF);
    CHECK(scalars[11].value<double>() == 10.01e10);
    CHECK(scalars[18].is_date_time());
    CHECK(scalars[22].value<int64_t>() == INT64_MAX);
  }

  TEST_CASE("parse_toml_text: a line continued by a backslash may start with any character") {
    // toml++ tests that character with its Unicode whitespace table (undefined for most non-ASCII code points),
    // so the screen hands it over as its \u escape: the same string, as TOML defines it (only space and tab are
    // whitespace, so U+3000 stays).
    const std::string text = "s = \"\"\"a \\\n   \xc3\xa9t\xc3\xa9 \\\r\n\n  \xe3\x80\x80x\\\n\xf0\x9f\x98\x80\"\"\"\n";
    const std::string screened = screen_toml_text(text, "f");
    CHECK(screened == "s = \"\"\"a \\\n   \\u00E9t\xc3\xa9 \\\r\n\n  \\u3000x\\\n\\U0001F600\"\"\"\n");
    const toml::table t = parse_toml_text(text, "f.toml", "f");
    CHECK(t["s"].value<std::string>() == "a \xc3\xa9t\xc3\xa9 \xe3\x80\x80x\xf0\x9f\x98\x80");
    CHECK(screen_toml_text("a = 1\n", "f") == "a = 1\n");
  }

  TEST_CASE("json_number: finite numbers, null otherwise") {
    CHECK(json_number(1.5) == 1.5);
    CHECK(json_number(NAN).is_null());
    CHECK(json_number(-INFINITY).is_null());
    CHECK(shortest_text(10.0) == "10");
    CHECK(shortest_text(0.1) == "0.1");
  }
}
