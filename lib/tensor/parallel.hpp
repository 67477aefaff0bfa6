#pragma once
// Element-wise loops split into fixed blocks that run on the oneTBB threads: for work whose elements are
// independent. Each element is computed by the same operations whichever block or thread runs it, and the blocks
// are fixed by the size, so the bits do not depend on the thread count. Isolated: a thread waiting here runs only
// these blocks.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cstdint>

namespace bilevel {

// f(begin, end) over [0, n) in blocks of `block` elements (one call when n fits a block or one thread runs).
template <class F>
void parallel_elements(int64_t n, const F& f, int64_t block = int64_t{1} << 15) {
  if (n <= block || tbb::this_task_arena::max_concurrency() <= 1) {
    f(int64_t{0}, n);
    return;
  }
  const int64_t count = (n + block - 1) / block;
  tbb::this_task_arena::isolate([&] {
    tbb::parallel_for(
        tbb::blocked_range<int64_t>(0, count, 1),
        [&](const tbb::blocked_range<int64_t>& r) {
          for (int64_t b = r.begin(); b != r.end(); ++b) f(b * block, std::min(n, (b + 1) * block));
        },
        tbb::simple_partitioner());
  });
}

}  // namespace bilevel
