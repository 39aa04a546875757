// The allocator is process-wide: every test starts and ends with no live buffers, no cache, no
// limits and a fresh peak, so tests can run in one process in any order.
#pragma once

#include <gtest/gtest.h>

#include "mlxcel/memory.h"

namespace mlxcel::test {

class MemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(active_memory(), 0u) << "an earlier test left live buffers";
    ASSERT_EQ(mapped_memory(), 0u) << "an earlier test left live mappings";
    restore();
  }
  void TearDown() override { restore(); }

  static void restore() {
    set_memory_limit(kUnlimited);
    set_cache_limit(kUnlimited);
    clear_cache();
    reset_peak_memory();
  }
};

}  // namespace mlxcel::test
