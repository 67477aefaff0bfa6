#pragma once
// While alive, the process may map at most `extra_bytes` more address space than it has (RLIMIT_AS), so a
// reader that allocates what a hostile header claims fails with std::bad_alloc inside the test instead of
// exhausting the machine. The previous limit is restored on destruction.
#include <sys/resource.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace bilevel::testing {

class AddressSpaceLimit {
 public:
  explicit AddressSpaceLimit(int64_t extra_bytes) {
    getrlimit(RLIMIT_AS, &saved_);
    const int64_t now = vm_size_bytes();
    if (now <= 0) return;
    rlimit r = saved_;
    const auto want = static_cast<rlim_t>(now + extra_bytes);
    if (saved_.rlim_cur != RLIM_INFINITY && saved_.rlim_cur < want) return;  // already tighter
    r.rlim_cur = want;
    active_ = setrlimit(RLIMIT_AS, &r) == 0;
  }
  ~AddressSpaceLimit() {
    if (active_) setrlimit(RLIMIT_AS, &saved_);
  }
  AddressSpaceLimit(const AddressSpaceLimit&) = delete;
  AddressSpaceLimit& operator=(const AddressSpaceLimit&) = delete;
  bool active() const { return active_; }

 private:
  static int64_t vm_size_bytes() {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
      if (key == "VmSize:") {
        int64_t kb = 0;
        status >> kb;
        return kb * 1024;
      }
      status.ignore(1 << 20, '\n');
    }
    return -1;
  }
  rlimit saved_{};
  bool active_ = false;
};

}  // namespace bilevel::testing
