// Accounting, cache, peak and limits of the process-wide allocator. Capacities are the request
// rounded up to 64 bytes: 1000 -> 1024, 3000 -> 3008, 2000 -> 2048, 990 -> 1024.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "memory_fixture.h"
#include "mlxcel/errors.h"
#include "mlxcel/memory.h"

namespace mlxcel::test {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

using Accounting = MemoryTest;
using Limits = MemoryTest;
using Cache = MemoryTest;
using Threads = MemoryTest;

TEST_F(Accounting, ActiveCountsTheRequestedBytesExactly) {
  Buffer a = allocate(1000, "a");
  EXPECT_EQ(a.size(), 1000u);
  EXPECT_EQ(active_memory(), 1000u);
  EXPECT_EQ(padding_memory(), 24u);  // 1024 - 1000
  EXPECT_EQ(cache_memory(), 0u);
  EXPECT_EQ(peak_memory(), 1000u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 64, 0u);
}

TEST_F(Accounting, TwoBuffersAddUp) {
  Buffer a = allocate(1000, "a");
  Buffer b = allocate(3000, "b");
  EXPECT_EQ(active_memory(), 4000u);     // 1000 + 3000
  EXPECT_EQ(padding_memory(), 32u);      // 24 + 8
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
}

TEST_F(Accounting, FreedBuffersMoveToTheCache) {
  {
    Buffer a = allocate(1000, "a");
    Buffer b = allocate(3000, "b");
  }
  EXPECT_EQ(active_memory(), 0u);
  EXPECT_EQ(padding_memory(), 0u);
  EXPECT_EQ(cache_memory(), 4032u);  // 1024 + 3008: the cache holds full capacities
  EXPECT_EQ(peak_memory(), 4000u);
  clear_cache();
  EXPECT_EQ(cache_memory(), 0u);
}

TEST_F(Accounting, ReuseFromTheCacheDoesNotGrowPeak) {
  void* first;
  {
    Buffer a = allocate(1000, "a");
    first = a.data();
  }
  Buffer b = allocate(990, "b");  // same 1024-byte capacity
  EXPECT_EQ(b.data(), first);
  EXPECT_EQ(cache_memory(), 0u);
  EXPECT_EQ(active_memory(), 990u);
  EXPECT_EQ(padding_memory(), 34u);  // 1024 - 990
  EXPECT_EQ(peak_memory(), 1000u);   // not 1000 + 990
}

TEST_F(Accounting, PeakAndResetPeak) {
  Buffer a = allocate(1000, "a");
  {
    Buffer b = allocate(2000, "b");
    EXPECT_EQ(peak_memory(), 3000u);
  }
  EXPECT_EQ(active_memory(), 1000u);
  EXPECT_EQ(peak_memory(), 3000u);
  reset_peak_memory();
  EXPECT_EQ(peak_memory(), 1000u);  // what is held at the reset
  Buffer c = allocate(500, "c");
  EXPECT_EQ(peak_memory(), 1500u);
}

TEST_F(Accounting, ZeroByteAllocationHoldsNothing) {
  Buffer z = allocate(0, "empty");
  EXPECT_TRUE(z.empty());
  EXPECT_EQ(z.data(), nullptr);
  EXPECT_EQ(active_memory(), 0u);
  EXPECT_EQ(padding_memory(), 0u);
}

TEST_F(Accounting, ZeroFillClearsAReusedDirtyBuffer) {
  void* first;
  {
    Buffer a = allocate(1000, "a");
    std::memset(a.data(), 0xAB, a.size());
    first = a.data();
  }
  Buffer b = allocate(1000, "b", Init::Zero);
  ASSERT_EQ(b.data(), first);
  for (uint64_t i = 0; i < b.size(); ++i) ASSERT_EQ(b.as<unsigned char>()[i], 0) << i;
}

TEST_F(Accounting, MovesTransferOwnership) {
  Buffer a = allocate(1000, "a");
  void* p = a.data();
  Buffer b = std::move(a);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(active_memory(), 1000u);

  Buffer c = allocate(3000, "c");
  c = std::move(b);  // c's 3000 bytes go back to the allocator
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(active_memory(), 1000u);
  EXPECT_EQ(cache_memory(), 3008u);

  c.reset();
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(active_memory(), 0u);
  EXPECT_EQ(cache_memory(), 4032u);  // 3008 + 1024
}

TEST_F(Accounting, StatsSnapshotIsConsistent) {
  set_memory_limit(1u << 20);
  set_cache_limit(1u << 16);
  Buffer a = allocate(1000, "a");
  { Buffer b = allocate(2000, "b"); }
  MemoryStats s = memory_stats();
  EXPECT_EQ(s.active, 1000u);
  EXPECT_EQ(s.peak, 3000u);
  EXPECT_EQ(s.cache, 2048u);
  EXPECT_EQ(s.padding, 24u);
  EXPECT_EQ(s.mapped, 0u);
  EXPECT_EQ(s.memory_limit, 1048576u);
  EXPECT_EQ(s.cache_limit, 65536u);
}

TEST_F(Limits, AllocationPastTheLimitThrowsNamingWhatRequestLimitAndHeld) {
  set_memory_limit(1536);
  Buffer weights = allocate(1000, "weights");
  try {
    Buffer kv = allocate(600, "kv cache");
    FAIL() << "expected MemoryLimitExceeded";
  } catch (const MemoryLimitExceeded& e) {
    std::string msg = e.what();
    EXPECT_TRUE(contains(msg, "[memory]")) << msg;
    EXPECT_TRUE(contains(msg, "kv cache")) << msg;
    EXPECT_TRUE(contains(msg, "600 B")) << msg;     // requested
    EXPECT_TRUE(contains(msg, "1.50 KiB")) << msg;  // limit 1536 = 1.5 * 1024
    EXPECT_TRUE(contains(msg, "1000 B")) << msg;    // held
    EXPECT_EQ(e.requested(), 600u);
    EXPECT_EQ(e.limit(), 1536u);
    EXPECT_EQ(e.held(), 1000u);
  }
}

TEST_F(Limits, RefusalLeavesCountersUnchangedAndLaterAllocationsWork) {
  set_memory_limit(1536);
  Buffer weights = allocate(1000, "weights");
  { Buffer scratch = allocate(64, "scratch"); }  // cache: 64
  MemoryStats before = memory_stats();
  EXPECT_THROW(allocate(600, "kv cache"), MemoryLimitExceeded);
  MemoryStats after = memory_stats();
  EXPECT_EQ(after.active, before.active);
  EXPECT_EQ(after.peak, before.peak);
  EXPECT_EQ(after.cache, before.cache);
  EXPECT_EQ(after.padding, before.padding);

  Buffer kv = allocate(536, "kv cache");  // 1000 + 536 = 1536, exactly the limit
  EXPECT_EQ(active_memory(), 1536u);
  EXPECT_EQ(peak_memory(), 1536u);
  EXPECT_THROW(allocate(1, "one more"), MemoryLimitExceeded);
  EXPECT_EQ(active_memory(), 1536u);
  kv.reset();
  Buffer again = allocate(536, "kv cache");
  EXPECT_EQ(active_memory(), 1536u);
}

TEST_F(Limits, ZeroLimitRefusesEveryNonEmptyAllocation) {
  set_memory_limit(0);
  EXPECT_THROW(allocate(1, "x"), MemoryLimitExceeded);
  Buffer z = allocate(0, "empty");
  EXPECT_EQ(active_memory(), 0u);
}

TEST_F(Limits, RequestLargerThanAnyAddressSpaceThrows) {
  try {
    allocate(std::numeric_limits<uint64_t>::max(), "absurd");
    FAIL() << "expected MemoryLimitExceeded";
  } catch (const MemoryLimitExceeded& e) {
    EXPECT_TRUE(contains(e.what(), "absurd")) << e.what();
    EXPECT_TRUE(contains(e.what(), "larger than any address space")) << e.what();
  }
  EXPECT_EQ(active_memory(), 0u);
}

TEST_F(Limits, RequestOverflowingActiveThrows) {
  Buffer a = allocate(1000, "a");
  // 1000 + (2^64 - 512) overflows uint64: refused even without a limit.
  EXPECT_THROW(allocate(std::numeric_limits<uint64_t>::max() - 511, "overflow"),
               MemoryLimitExceeded);
  EXPECT_EQ(active_memory(), 1000u);
}

TEST_F(Limits, SettersReturnThePreviousValue) {
  EXPECT_EQ(set_memory_limit(1000), kUnlimited);
  EXPECT_EQ(set_memory_limit(2000), 1000u);
  EXPECT_EQ(get_memory_limit(), 2000u);
  EXPECT_EQ(set_memory_limit(kUnlimited), 2000u);
  EXPECT_EQ(set_cache_limit(4096), kUnlimited);
  EXPECT_EQ(set_cache_limit(0), 4096u);
  EXPECT_EQ(get_cache_limit(), 0u);
  EXPECT_EQ(set_cache_limit(kUnlimited), 0u);
}

TEST_F(Limits, FreshAllocationTrimsTheCacheToStayWithinTheLimit) {
  set_memory_limit(4096);
  { Buffer a = allocate(2000, "a"); }
  EXPECT_EQ(cache_memory(), 2048u);
  // 3000 -> capacity 3008, none cached; 3008 + 2048 cached > 4096, so the cache is released.
  Buffer b = allocate(3000, "b");
  EXPECT_EQ(cache_memory(), 0u);
  EXPECT_EQ(active_memory(), 3000u);
}

TEST_F(Limits, NoTrimWhenTheCacheStillFits) {
  set_memory_limit(8192);
  { Buffer a = allocate(2000, "a"); }
  Buffer b = allocate(3000, "b");  // 3008 + 2048 = 5056 <= 8192
  EXPECT_EQ(cache_memory(), 2048u);
}

TEST_F(Cache, LimitBoundsTheCacheEvictingTheOldestFirst) {
  set_cache_limit(2048);
  Buffer a = allocate(1000, "a");
  Buffer b = allocate(1000, "b");
  Buffer c = allocate(1000, "c");
  void* pb = b.data();
  void* pc = c.data();
  a.reset();  // cache 1024
  b.reset();  // cache 2048
  c.reset();  // a (oldest) is released to keep 2048
  EXPECT_EQ(cache_memory(), 2048u);
  Buffer x = allocate(1000, "x");  // most recently freed first
  Buffer y = allocate(1000, "y");
  EXPECT_EQ(x.data(), pc);
  EXPECT_EQ(y.data(), pb);
  EXPECT_EQ(cache_memory(), 0u);
}

TEST_F(Cache, LoweringTheLimitReleasesAtOnce) {
  {
    Buffer a = allocate(1000, "a");
    Buffer b = allocate(1000, "b");
  }
  EXPECT_EQ(cache_memory(), 2048u);
  set_cache_limit(1024);
  EXPECT_EQ(cache_memory(), 1024u);
  set_cache_limit(0);
  EXPECT_EQ(cache_memory(), 0u);
}

TEST_F(Cache, ZeroLimitDisablesCaching) {
  set_cache_limit(0);
  { Buffer a = allocate(1000, "a"); }
  EXPECT_EQ(cache_memory(), 0u);
}

TEST_F(Cache, BufferLargerThanTheLimitIsNotCached) {
  set_cache_limit(2048);
  { Buffer small = allocate(1000, "small"); }
  { Buffer big = allocate(3000, "big"); }  // 3008 > 2048: straight back to the system
  EXPECT_EQ(cache_memory(), 1024u);
}

TEST_F(Threads, ConcurrentAllocateAndFreeKeepCountersConsistent) {
  constexpr int kThreads = 4;
  constexpr int kIterations = 200;
  std::vector<std::thread> threads;
  std::vector<int> corrupt(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &corrupt] {
      for (int i = 0; i < kIterations; ++i) {
        uint64_t n1 = 64 * (i % 7 + 1) + t;
        uint64_t n2 = 64 * ((i + 3) % 7 + 1);
        Buffer a = allocate(n1, "thread a");
        Buffer b = allocate(n2, "thread b", Init::Zero);
        std::memset(a.data(), t + 1, a.size());
        for (uint64_t k = 0; k < b.size(); ++k) corrupt[t] |= b.as<unsigned char>()[k] != 0;
        for (uint64_t k = 0; k < a.size(); ++k) corrupt[t] |= a.as<unsigned char>()[k] != t + 1;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(corrupt[t], 0) << "thread " << t;
  EXPECT_EQ(active_memory(), 0u);
  EXPECT_EQ(padding_memory(), 0u);
  // Thread t holds n1 + n2 at once; over i % 7 = k that is 64(k+1) + 64((k+3)%7+1) + t, largest
  // at k = 3: 256 + 448 + t = 704 + t. All four together: 4 * 704 + (0+1+2+3) = 2822.
  EXPECT_LE(peak_memory(), 2822u);
  EXPECT_GE(peak_memory(), 704u);
  clear_cache();
  EXPECT_EQ(cache_memory(), 0u);
}

}  // namespace
}  // namespace mlxcel::test
