#pragma once
// Exact binary encoding of values for messages between processes of one run (run/distributed.hpp): numbers
// keep their bits, so a result computed on another rank reduces to the same sums as one computed here. Both
// ends are the same binary (byte order and widths are the host's). A reader that runs past the end or meets
// an implausible size throws internal_error: the bytes came from this program, so a bad message is a bug.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/errors.hpp"

namespace bilevel {

class ByteWriter {
 public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  template <class T>
  void put_array(const T* data, size_t n) {
    static_assert(std::is_trivially_copyable_v<T>);
    put<uint64_t>(n);
    if (n > 0) out_.append(reinterpret_cast<const char*>(data), n * sizeof(T));
  }
  template <class T>
  void put_vector(const std::vector<T>& v) { put_array(v.data(), v.size()); }
  void put_string(std::string_view s) { put_array(s.data(), s.size()); }
  const std::string& bytes() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  // The element count of an array, checked against the bytes that are left.
  template <class T>
  size_t get_count() {
    const auto n = get<uint64_t>();
    BILEVEL_CHECK(n <= (in_.size() - pos_) / sizeof(T), "message: array of " + std::to_string(n) + " elements overruns it");
    return static_cast<size_t>(n);
  }
  template <class T>
  void get_array_into(T* data, size_t n) {
    BILEVEL_CHECK(get_count<T>() == n, "message: array size differs from the expected one");
    if (n > 0) std::memcpy(data, take(n * sizeof(T)), n * sizeof(T));
  }
  template <class T>
  std::vector<T> get_vector() {
    std::vector<T> v(get_count<T>());
    if (!v.empty()) std::memcpy(v.data(), take(v.size() * sizeof(T)), v.size() * sizeof(T));
    return v;
  }
  std::string get_string() {
    const size_t n = get_count<char>();
    return std::string(take(n), n);
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  const char* take(size_t n) {
    BILEVEL_CHECK(n <= in_.size() - pos_, "message: read past its end");
    const char* p = in_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace bilevel
