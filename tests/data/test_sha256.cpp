// SHA-256 against the FIPS 180-4 / NIST test vectors, in one piece and in odd-sized chunks.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "data/fake_data.hpp"
#include "data/sha256.hpp"

using namespace bilevel;

TEST_CASE("sha256: NIST test vectors") {
  CHECK(data::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(data::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(data::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  SUBCASE("a million 'a', fed in chunks of 997 bytes") {
    const std::string chunk(997, 'a');
    data::Sha256 h;
    int64_t left = 1000000;
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(left, 997));
      h.update(chunk.data(), n);
      left -= static_cast<int64_t>(n);
    }
    CHECK(h.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
  SUBCASE("lengths around the 55/56/64-byte padding boundaries differ and are stable") {
    for (size_t n : {55u, 56u, 63u, 64u, 65u}) {
      data::Sha256 whole, split;
      const std::string s(n, 'x');
      whole.update(s.data(), n);
      split.update(s.data(), n / 2);
      split.update(s.data() + n / 2, n - n / 2);
      CHECK(whole.hex_digest() == split.hex_digest());
    }
  }
}

TEST_CASE("sha256_file hashes the stored bytes and names an unreadable file") {
  testing::FakeDataDir d;
  d.write_text("abc.txt", "abc", false);
  CHECK(data::sha256_file(d.path("abc.txt")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK_THROWS_WITH(data::sha256_file(d.path("none.txt")), doctest::Contains("none.txt"));
}
