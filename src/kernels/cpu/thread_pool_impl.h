// Template body of kernels::parallel_for (included at the end of kernels.h).
#pragma once

#include <cstdint>
#include <type_traits>

namespace mlxcel::kernels {

namespace detail {
// Runs task(ctx, chunk, thread) for every chunk in [0, n_chunks), spread over the pool: threads
// claim chunks from a shared counter, so a thread the OS has descheduled delays at most the
// chunk it holds (the caller's thread keeps claiming). Returns when all chunks are done.
void run_on_pool(uint32_t n_chunks, void (*task)(void* ctx, uint32_t chunk, uint32_t thread),
                 void* ctx);

// Chunks per thread for dynamic scheduling.
constexpr uint64_t kChunksPerThread = 4;
}  // namespace detail

template <class F>
void parallel_for(uint64_t n, uint64_t align, F&& fn) {
  if (n == 0) return;
  if (align == 0) align = 1;
  const uint32_t threads = num_threads();
  const uint64_t units = (n + align - 1) / align;
  if (threads <= 1 || units <= 1) {
    fn(uint64_t{0}, n, uint32_t{0});
    return;
  }
  uint64_t per = (units + threads * detail::kChunksPerThread - 1) / (threads * detail::kChunksPerThread);
  if (per == 0) per = 1;
  const uint64_t chunk = per * align;
  const uint64_t n_chunks = (n + chunk - 1) / chunk;
  struct Ctx {
    std::remove_reference_t<F>* fn;
    uint64_t n, chunk;
  } ctx{&fn, n, chunk};
  auto task = [](void* p, uint32_t c, uint32_t t) {
    auto* x = static_cast<Ctx*>(p);
    const uint64_t b = uint64_t{c} * x->chunk;
    const uint64_t e = b + x->chunk < x->n ? b + x->chunk : x->n;
    (*x->fn)(b, e, t);
  };
  detail::run_on_pool(static_cast<uint32_t>(n_chunks), task, &ctx);
}

}  // namespace mlxcel::kernels
