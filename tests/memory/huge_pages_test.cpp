// Large blocks carry the transparent-huge-page advice (VmFlags "hg" on their mapping in
// /proc/self/smaps); small ones do not, so a small buffer never pins a 2 MiB page.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "memory/accounting.h"
#include "memory_fixture.h"
#include "mlxcel/memory.h"

namespace mlxcel::test {
namespace {

// VmFlags of the mapping that contains p, or "" when none is found.
std::string vm_flags_of(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (line.find(':') > line.find(' ') && (head >> std::hex >> lo >> dash >> hi) && dash == '-') {
      inside = addr >= lo && addr < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

bool has_flag(const std::string& flags, const std::string& flag) {
  return (flags + " ").find(" " + flag + " ") != std::string::npos;
}

using HugePages = MemoryTest;

TEST(HugePagesSetting, OnlyZeroTurnsTheAdviceOff) {
  EXPECT_TRUE(memory_detail::huge_pages_from_env(nullptr));
  EXPECT_TRUE(memory_detail::huge_pages_from_env(""));
  EXPECT_TRUE(memory_detail::huge_pages_from_env("1"));
  EXPECT_FALSE(memory_detail::huge_pages_from_env("0"));
  // malformed values keep the default (with a warning), they do not silently turn it off
  EXPECT_TRUE(memory_detail::huge_pages_from_env("off"));
  EXPECT_TRUE(memory_detail::huge_pages_from_env("00"));
}

TEST_F(HugePages, LargeBlocksAreAdvisedAndSmallOnesAreNot) {
  if (!std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled")) {
    GTEST_SKIP() << "this kernel has no transparent huge pages";
  }
  if (const char* e = std::getenv("MLXCEL_THP"); e != nullptr && std::string(e) == "0") {
    GTEST_SKIP() << "MLXCEL_THP=0 turns the advice off";
  }
  Buffer big = allocate(8u << 20, "big");
  Buffer small = allocate(64u << 10, "small");
  const std::string big_flags = vm_flags_of(static_cast<std::byte*>(big.data()) + big.size() / 2);
  const std::string small_flags = vm_flags_of(small.data());
  ASSERT_FALSE(big_flags.empty());
  ASSERT_FALSE(small_flags.empty());
  EXPECT_TRUE(has_flag(big_flags, "hg")) << big_flags;
  EXPECT_FALSE(has_flag(small_flags, "hg")) << small_flags;
}

}  // namespace
}  // namespace mlxcel::test
