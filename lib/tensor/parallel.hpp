#pragma once
// Loops over fixed blocks that run on the oneTBB threads: for work whose blocks are independent (matrix rows,
// vector elements). The blocks are fixed by the size — never by the thread count — and each is computed by the
// same operations whichever thread runs it, so the bits do not depend on the thread count. Isolated: a thread
// waiting here runs only these blocks (never another task that could reuse its scratch buffers or autodiff
// state).
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cstdint>

namespace bilevel {

// f(begin, end) for each block of `block` indices of [0, total) (the last one shorter): in parallel when `split`,
// there are several blocks and several threads; else one block after another on the calling thread.
template <class F>
void parallel_blocks(int64_t total, int64_t block, bool split, const F& f) {
  const int64_t count = total <= 0 ? 0 : (total + block - 1) / block;
  auto run = [&](int64_t i) { f(i * block, std::min(total, (i + 1) * block)); };
  if (!split || count <= 1 || tbb::this_task_arena::max_concurrency() <= 1) {
    for (int64_t i = 0; i < count; ++i) run(i);
    return;
  }
  tbb::this_task_arena::isolate([&] {
    tbb::parallel_for(
        tbb::blocked_range<int64_t>(0, count, 1),
        [&](const tbb::blocked_range<int64_t>& r) {
          for (int64_t i = r.begin(); i != r.end(); ++i) run(i);
        },
        tbb::simple_partitioner());
  });
}

// An element-wise loop f(begin, end) over [0, n) in blocks of 32 k elements.
template <class F>
void parallel_elements(int64_t n, const F& f) {
  parallel_blocks(n, int64_t{1} << 15, true, f);
}

}  // namespace bilevel
