// The process-wide accounting allocator behind include/mlxcel/memory.h.
//
// Blocks come from aligned_alloc with a capacity of the request rounded up to kBufferAlignment.
// Freed blocks go to a cache keyed by exact capacity, evicted least-recently-freed first. One
// mutex guards everything: allocation is per weight/KV/scratch buffer, not per token.
//
// Large blocks are advised for transparent huge pages: decode streams every weight once per token
// and the hardware prefetchers stop at each 4 KiB page boundary (measured on the 2-core EPYC: a
// 2-thread read of 1 GiB goes from 43.9 to 50.6 GB/s, docs/performance.md). RSS does not grow:
// every byte of a weight, KV or scratch block is written before use (bench_estimate_accuracy
// measured +0.80..+1.29% plan-over-RSS with the advice, as before it).
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iterator>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "core/checked.h"
#include "memory/accounting.h"
#include "mlxcel/errors.h"
#include "mlxcel/memory.h"
#include "mlxcel/size.h"

namespace mlxcel {
namespace {

// Blocks from this size up get MADV_HUGEPAGE (twice a 2 MiB huge page, so at least one whole
// aligned huge page lies inside). MLXCEL_THP=0 turns it off.
constexpr uint64_t kHugePageAdviceFrom = 4ull << 20;

bool huge_pages_wanted() {
  static const bool wanted = memory_detail::huge_pages_from_env(std::getenv("MLXCEL_THP"));
  return wanted;
}

// Advice only: a kernel without THP refuses it and the block works as before.
void advise_huge_pages(void* p, uint64_t capacity) noexcept {
  if (capacity < kHugePageAdviceFrom || !huge_pages_wanted()) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  // The pages that cover the block: the first and last may hold a neighbour's bytes too, which
  // is harmless for advice, and not splitting them off keeps one mapping per block.
  const auto lo = reinterpret_cast<uintptr_t>(p) / page * page;
  const auto hi = (reinterpret_cast<uintptr_t>(p) + capacity + page - 1) / page * page;
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
}

std::string limit_text(uint64_t limit) {
  return limit == kUnlimited ? std::string("unlimited") : format_bytes(limit);
}

class Allocator {
 public:
  // Never destroyed: Buffers in static objects may be released after main returns. The cache
  // stays reachable through this object, so leak checkers do not report it.
  static Allocator& instance() {
    static Allocator* a = new Allocator();
    return *a;
  }

  void* acquire(uint64_t bytes, uint64_t capacity, std::string_view what) {
    std::lock_guard lock(mu_);
    auto after = checked_add(active_, bytes);
    if (!after || *after > memory_limit_) {
      throw MemoryLimitExceeded(
          fmt::format("cannot allocate {} for '{}': the memory limit is {} and {} is already held "
                      "by live buffers ({} + {} > {} bytes)",
                      format_bytes(bytes), what, limit_text(memory_limit_), format_bytes(active_),
                      active_, bytes, memory_limit_),
          bytes, memory_limit_, active_);
    }
    void* p = take_cached(capacity);
    if (p == nullptr) {
      trim_for_limit(capacity);
      p = std::aligned_alloc(kBufferAlignment, capacity);
      if (p == nullptr && !cache_.empty()) {
        release_cached_until(0);
        p = std::aligned_alloc(kBufferAlignment, capacity);
      }
      if (p == nullptr) {
        throw MemoryLimitExceeded(
            fmt::format("cannot allocate {} for '{}': the system is out of memory ({} is held by "
                        "live buffers)",
                        format_bytes(bytes), what, format_bytes(active_)),
            bytes, memory_limit_, active_);
      }
      advise_huge_pages(p, capacity);
    }
    active_ = *after;
    padding_ += capacity - bytes;
    if (active_ > peak_) peak_ = active_;
    return p;
  }

  void release(void* p, uint64_t bytes, uint64_t capacity) noexcept {
    std::lock_guard lock(mu_);
    active_ -= bytes;
    padding_ -= capacity - bytes;
    if (capacity > cache_limit_) {
      std::free(p);
      return;
    }
    release_cached_until(cache_limit_ - capacity);
    try {
      auto node = cache_.insert(cache_.begin(), Cached{p, capacity, {}});
      try {
        node->index = by_capacity_.emplace(capacity, node);
      } catch (...) {
        cache_.erase(node);
        throw;
      }
      cache_bytes_ += capacity;
    } catch (...) {
      std::free(p);  // no memory for the cache's bookkeeping: give the block back instead
    }
  }

  MemoryStats stats() {
    std::lock_guard lock(mu_);
    return MemoryStats{active_, peak_, cache_bytes_, padding_, mapped_, memory_limit_, cache_limit_};
  }

  void reset_peak() {
    std::lock_guard lock(mu_);
    peak_ = active_;
  }

  uint64_t set_memory_limit(uint64_t bytes) {
    std::lock_guard lock(mu_);
    uint64_t prev = memory_limit_;
    memory_limit_ = bytes;
    return prev;
  }

  uint64_t set_cache_limit(uint64_t bytes) {
    std::lock_guard lock(mu_);
    uint64_t prev = cache_limit_;
    cache_limit_ = bytes;
    release_cached_until(cache_limit_);
    return prev;
  }

  void clear_cache() {
    std::lock_guard lock(mu_);
    release_cached_until(0);
  }

  void add_mapped(uint64_t bytes) noexcept {
    std::lock_guard lock(mu_);
    mapped_ += bytes;
  }

  void sub_mapped(uint64_t bytes) noexcept {
    std::lock_guard lock(mu_);
    mapped_ -= bytes;
  }

 private:
  struct Cached;
  using CacheList = std::list<Cached>;
  using CacheIndex = std::multimap<uint64_t, CacheList::iterator>;
  struct Cached {
    void* ptr;
    uint64_t capacity;
    CacheIndex::iterator index;
  };

  Allocator() = default;

  // Most recently freed block of exactly this capacity, or nullptr.
  void* take_cached(uint64_t capacity) {
    auto [lo, hi] = by_capacity_.equal_range(capacity);
    if (lo == hi) return nullptr;
    auto it = std::prev(hi);
    void* p = it->second->ptr;
    cache_.erase(it->second);
    by_capacity_.erase(it);
    cache_bytes_ -= capacity;
    return p;
  }

  // Frees least-recently-freed blocks until the cache holds at most `bytes`.
  void release_cached_until(uint64_t bytes) noexcept {
    while (cache_bytes_ > bytes) {
      Cached& oldest = cache_.back();
      std::free(oldest.ptr);
      cache_bytes_ -= oldest.capacity;
      by_capacity_.erase(oldest.index);
      cache_.pop_back();
    }
  }

  // Before taking `capacity` more from the system, releases cached blocks so that everything the
  // allocator holds (active + padding + cache + the new block) stays within the memory limit.
  void trim_for_limit(uint64_t capacity) noexcept {
    if (memory_limit_ == kUnlimited) return;
    uint64_t live = active_ + padding_;
    auto need = checked_add(live, capacity);
    if (!need || *need >= memory_limit_) {
      release_cached_until(0);
      return;
    }
    release_cached_until(memory_limit_ - *need);
  }

  std::mutex mu_;
  uint64_t active_ = 0;
  uint64_t peak_ = 0;
  uint64_t padding_ = 0;
  uint64_t mapped_ = 0;
  uint64_t cache_bytes_ = 0;
  uint64_t memory_limit_ = kUnlimited;
  uint64_t cache_limit_ = kUnlimited;
  CacheList cache_;  // front = most recently freed
  CacheIndex by_capacity_;
};

}  // namespace

Buffer allocate(uint64_t bytes, std::string_view what, Init init) {
  if (bytes == 0) return Buffer();
  auto padded = checked_add(bytes, kBufferAlignment - 1);
  if (!padded) {
    uint64_t limit = get_memory_limit();
    uint64_t held = active_memory();
    throw MemoryLimitExceeded(fmt::format("cannot allocate {} for '{}': larger than any address "
                                          "space ({} is held by live buffers)",
                                          format_bytes(bytes), what, format_bytes(held)),
                              bytes, limit, held);
  }
  uint64_t capacity = *padded / kBufferAlignment * kBufferAlignment;
  void* p = Allocator::instance().acquire(bytes, capacity, what);
  // Zero outside the lock: a multi-GiB memset must not stall other threads' allocations.
  if (init == Init::Zero) std::memset(p, 0, bytes);
  return Buffer(p, bytes, capacity);
}

Buffer::Buffer(Buffer&& other) noexcept
    : data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.capacity_ = 0;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = other.data_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.capacity_ = 0;
  }
  return *this;
}

void Buffer::reset() noexcept {
  if (data_ == nullptr) return;
  Allocator::instance().release(data_, size_, capacity_);
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
}

uint64_t active_memory() { return Allocator::instance().stats().active; }
uint64_t peak_memory() { return Allocator::instance().stats().peak; }
void reset_peak_memory() { Allocator::instance().reset_peak(); }
uint64_t cache_memory() { return Allocator::instance().stats().cache; }
uint64_t padding_memory() { return Allocator::instance().stats().padding; }
uint64_t mapped_memory() { return Allocator::instance().stats().mapped; }
uint64_t set_memory_limit(uint64_t bytes) { return Allocator::instance().set_memory_limit(bytes); }
uint64_t get_memory_limit() { return Allocator::instance().stats().memory_limit; }
uint64_t set_cache_limit(uint64_t bytes) { return Allocator::instance().set_cache_limit(bytes); }
uint64_t get_cache_limit() { return Allocator::instance().stats().cache_limit; }
void clear_cache() { Allocator::instance().clear_cache(); }
MemoryStats memory_stats() { return Allocator::instance().stats(); }

namespace memory_detail {
bool huge_pages_from_env(const char* v) {
  if (v == nullptr || *v == 0) return true;
  const std::string_view s(v);
  if (s == "0") return false;
  if (s != "1") spdlog::warn("[memory] MLXCEL_THP={} is not 0 or 1; advising huge pages (the default)", s);
  return true;
}

void add_mapped(uint64_t bytes) noexcept { Allocator::instance().add_mapped(bytes); }
void sub_mapped(uint64_t bytes) noexcept { Allocator::instance().sub_mapped(bytes); }
}  // namespace memory_detail

}  // namespace mlxcel
