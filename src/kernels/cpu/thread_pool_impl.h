// Template body of kernels::parallel_for (included at the end of kernels.h).
#pragma once

#include <cstdint>
#include <type_traits>

namespace mlxcel::kernels {

namespace detail {
// Runs task(ctx, t) for t in [0, n_tasks) on the pool (task 0 on the calling thread) and waits.
void run_on_pool(uint32_t n_tasks, void (*task)(void* ctx, uint32_t t), void* ctx);

// [begin, end) of block t out of n_blocks over [0, n), boundaries multiples of align.
inline void split_range(uint64_t n, uint64_t align, uint32_t t, uint32_t n_blocks, uint64_t* begin,
                        uint64_t* end) {
  if (align == 0) align = 1;
  const uint64_t units = (n + align - 1) / align;
  const uint64_t b = units * t / n_blocks, e = units * (t + 1) / n_blocks;
  *begin = b * align < n ? b * align : n;
  *end = e * align < n ? e * align : n;
}
}  // namespace detail

template <class F>
void parallel_for(uint64_t n, uint64_t align, F&& fn) {
  if (n == 0) return;
  uint32_t threads = num_threads();
  const uint64_t units = (n + (align ? align : 1) - 1) / (align ? align : 1);
  if (units < threads) threads = static_cast<uint32_t>(units);
  struct Ctx {
    std::remove_reference_t<F>* fn;
    uint64_t n, align;
    uint32_t blocks;
  } ctx{&fn, n, align, threads};
  auto task = [](void* p, uint32_t t) {
    auto* c = static_cast<Ctx*>(p);
    uint64_t b, e;
    detail::split_range(c->n, c->align, t, c->blocks, &b, &e);
    if (b < e) (*c->fn)(b, e, t);
  };
  if (threads <= 1) {
    fn(uint64_t{0}, n, uint32_t{0});
    return;
  }
  detail::run_on_pool(threads, task, &ctx);
}

}  // namespace mlxcel::kernels
