// Work split for the bandwidth-bound row kernels (decode). Each thread owns one contiguous range
// of units and takes it from the front in halving pieces, so its weight stream runs on without a
// restart. A thread whose range is done steals the back half of the unclaimed rest of the fullest
// other range. A static split leaves one core idle at every matrix end while the other finishes
// (the cores' shares of the memory bandwidth differ from moment to moment); small dynamic chunks
// restart the stream at every chunk. Here only a steal starts a new stream.
#include <algorithm>
#include <atomic>

#include "kernels/cpu/kernels.h"

namespace mlxcel::kernels::detail {
namespace {

constexpr uint32_t kMaxRanges = 64;

// front in the high 32 bits, back (exclusive) in the low 32, both in units from the range base.
constexpr uint64_t pack(uint64_t front, uint64_t back) { return (front << 32) | back; }
constexpr uint64_t front_of(uint64_t w) { return w >> 32; }
constexpr uint64_t back_of(uint64_t w) { return w & 0xffffffffu; }

struct alignas(64) Range {
  std::atomic<uint64_t> word{0};
  uint64_t base = 0;
};

struct StealCtx {
  Range* ranges;
  uint32_t n_ranges;
  uint64_t min_units;
  StealTask fn;
  void* user;
};

// Claims the next piece from the front of range r: half of what is left (at least min_units).
bool claim_front(Range& r, uint64_t min_units, uint64_t* u0, uint64_t* u1) {
  uint64_t w = r.word.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t f = front_of(w), b = back_of(w);
    if (f >= b) return false;
    const uint64_t left = b - f;
    const uint64_t take = std::min(left, std::max(min_units, (left + 1) / 2));
    if (r.word.compare_exchange_weak(w, pack(f + take, b), std::memory_order_acq_rel, std::memory_order_acquire)) {
      *u0 = r.base + f;
      *u1 = r.base + f + take;
      return true;
    }
  }
}

// Steals the back half (all of it below 2 x min_units) of the fullest other range's unclaimed rest.
bool steal_back(const StealCtx& k, uint64_t* u0, uint64_t* u1) {
  for (;;) {
    uint32_t best = k.n_ranges;
    uint64_t best_left = 0, best_w = 0;
    for (uint32_t i = 0; i < k.n_ranges; ++i) {
      const uint64_t w = k.ranges[i].word.load(std::memory_order_acquire);
      const uint64_t left = back_of(w) > front_of(w) ? back_of(w) - front_of(w) : 0;
      if (left > best_left) {
        best = i;
        best_left = left;
        best_w = w;
      }
    }
    if (best == k.n_ranges) return false;
    const uint64_t take = best_left >= 2 * k.min_units ? best_left / 2 : best_left;
    const uint64_t b = back_of(best_w);
    if (k.ranges[best].word.compare_exchange_strong(best_w, pack(front_of(best_w), b - take),
                                                    std::memory_order_acq_rel, std::memory_order_acquire)) {
      *u0 = k.ranges[best].base + b - take;
      *u1 = k.ranges[best].base + b;
      return true;
    }
  }
}

void run_range(void* p, uint32_t range, uint32_t thread) {
  const StealCtx& k = *static_cast<const StealCtx*>(p);
  uint64_t u0 = 0, u1 = 0;
  while (claim_front(k.ranges[range], k.min_units, &u0, &u1)) k.fn(k.user, u0, u1, thread);
  while (steal_back(k, &u0, &u1)) k.fn(k.user, u0, u1, thread);
}

}  // namespace

void run_stealing(uint64_t n_units, uint64_t min_units, StealTask fn, void* user, uint32_t threads) {
  if (n_units == 0) return;
  min_units = std::max<uint64_t>(1, min_units);
  // No range under min_units: a small job is not worth waking another core for.
  const uint32_t n_ranges =
      static_cast<uint32_t>(std::min<uint64_t>({threads, kMaxRanges, std::max<uint64_t>(1, n_units / min_units)}));
  if (n_ranges <= 1 || n_units > 0xffffffffu) {
    fn(user, 0, n_units, 0);
    return;
  }
  Range ranges[kMaxRanges];
  for (uint32_t i = 0; i < n_ranges; ++i) {
    const uint64_t b = n_units * i / n_ranges, e = n_units * (i + 1) / n_ranges;
    ranges[i].base = b;
    ranges[i].word.store(pack(0, e - b), std::memory_order_relaxed);
  }
  StealCtx ctx{ranges, n_ranges, min_units, fn, user};
  run_on_pool(n_ranges, run_range, &ctx, threads);
}

}  // namespace mlxcel::kernels::detail
