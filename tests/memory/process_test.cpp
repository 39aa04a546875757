// Process probes read the kernel's own numbers; only sanity and direction can be checked.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "memory_fixture.h"
#include "mlxcel/memory.h"

namespace mlxcel::test {
namespace {

using Process = MemoryTest;

unsigned round_robin() {
  static std::atomic<unsigned> n{0};
  return n++;
}

TEST_F(Process, RssIsPositiveAndHighWaterMarkIsAtLeastRss) {
  ProcessMemory pm = process_memory();
  EXPECT_GT(pm.rss, 0u);
  EXPECT_GE(pm.hwm, pm.rss);
  EXPECT_EQ(pm.rss % 1024, 0u);  // the kernel reports kB
}

TEST_F(Process, TouchingMemoryRaisesRssAndHighWaterMark) {
  constexpr uint64_t kBytes = 32ull << 20;  // 32 MiB
  ProcessMemory before = process_memory();
  Buffer b = allocate(kBytes, "probe", Init::Zero);  // the memset makes every page resident
  ProcessMemory after = process_memory();
  // Allow 2 MiB for pages of the block that may have been resident already.
  EXPECT_GE(after.rss, before.rss + kBytes - (2ull << 20));
  EXPECT_GE(after.hwm, after.rss);
}

TEST_F(Process, ResetPeakNeverRaisesTheHighWaterMark) {
  ProcessMemory before = process_memory();
  if (!reset_process_peak()) GTEST_SKIP() << "kernel refused /proc/self/clear_refs";
  ProcessMemory after = process_memory();
  EXPECT_LE(after.hwm, before.hwm + (1ull << 20));  // 1 MiB for what the probe itself touches
  EXPECT_GE(after.hwm, after.rss);
}

// serve's /metrics and its exit log read the peak at different times; the later read must never
// be lower. Threads touch and free memory between reads (their page counts reach the process's
// counters lazily, which is what once made a later VmHWM read lower than an earlier RSS read).
TEST_F(Process, TheHighWaterMarkNeverGoesBelowAnythingReadBefore) {
  uint64_t highest = 0;
  for (int round = 0; round < 20; ++round) {
    std::thread t([] {
      std::vector<char> v((8u + 4u * (round_robin() % 3)) << 20, 1);  // touched pages
      volatile char sink = v[v.size() / 2];
      (void)sink;
    });
    const ProcessMemory during = process_memory();
    t.join();
    const ProcessMemory after = process_memory();
    highest = std::max({highest, during.rss, during.hwm});
    ASSERT_GE(after.hwm, highest) << "round " << round;
    highest = std::max(highest, after.hwm);
  }
}

}  // namespace
}  // namespace mlxcel::test
