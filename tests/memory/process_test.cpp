// Process probes read the kernel's own numbers; only sanity and direction can be checked.
#include <gtest/gtest.h>

#include "memory_fixture.h"
#include "mlxcel/memory.h"

namespace mlxcel::test {
namespace {

using Process = MemoryTest;

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

}  // namespace
}  // namespace mlxcel::test
