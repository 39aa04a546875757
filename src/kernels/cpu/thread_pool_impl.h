// Template body of kernels::parallel_for (included at the end of kernels.h).
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace mlxcel::kernels {

namespace detail {
// Runs task(ctx, chunk, thread) for every chunk in [0, n_chunks), spread over the pool: threads
// claim chunks from a shared counter, so a thread the OS has descheduled delays at most the
// chunk it holds (the caller's thread keeps claiming). Returns when all chunks are done.
void run_on_pool(uint32_t n_chunks, void (*task)(void* ctx, uint32_t chunk, uint32_t thread),
                 void* ctx, uint32_t threads);
// Threads for bandwidth-bound row kernels: num_threads(), capped by env MLXCEL_MATVEC_THREADS.
uint32_t matvec_threads();
// The cap MLXCEL_MATVEC_THREADS asks for: a whole number 1..4096; 0 (no cap) when unset or empty,
// and, with a warning naming the variable and the value, when it is anything else.
uint32_t matvec_thread_cap(const char* env_value);

// Runs fn(ctx, u0, u1, thread) over [0, n_units) split into one range per thread, each taken
// from its front in halving pieces of at least min_units, with idle threads stealing the back
// half of another range's rest (stealing_split.cpp). Pieces of one range come in order, so a
// thread's stream of units is contiguous until it steals.
using StealTask = void (*)(void* ctx, uint64_t u0, uint64_t u1, uint32_t thread);
void run_stealing(uint64_t n_units, uint64_t min_units, StealTask fn, void* ctx, uint32_t threads);

// Chunks per thread for dynamic scheduling.
constexpr uint64_t kChunksPerThread = 4;

// parallel_for over [0, n) in units of `align` through run_stealing (for bandwidth-bound row
// kernels: fn gets [b, e) pieces, each a multiple of align except at n).
template <class F>
void parallel_for_stealing(uint64_t n, uint64_t align, uint64_t min_units, F&& fn, uint32_t threads) {
  if (n == 0) return;
  if (align == 0) align = 1;
  struct Ctx {
    std::remove_reference_t<F>* fn;
    uint64_t n, align;
  } ctx{&fn, n, align};
  auto task = [](void* p, uint64_t u0, uint64_t u1, uint32_t t) {
    auto* x = static_cast<Ctx*>(p);
    const uint64_t e = u1 * x->align;
    (*x->fn)(u0 * x->align, e < x->n ? e : x->n, t);
  };
  run_stealing((n + align - 1) / align, min_units, task, &ctx, threads);
}
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
  const uint64_t per = (units + threads * detail::kChunksPerThread - 1) / (threads * detail::kChunksPerThread);
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
  detail::run_on_pool(static_cast<uint32_t>(n_chunks), task, &ctx, threads);
}

}  // namespace mlxcel::kernels
