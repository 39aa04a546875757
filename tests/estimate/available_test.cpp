// The available-memory probe on fake /proc and /sys trees.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"
#include "support/test_paths.h"

using namespace mlxcel;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// MemTotal 16384000 kB, MemAvailable 8192000 kB = 8388608000 bytes.
void write_meminfo(const fs::path& root) {
  write(root / "proc/meminfo",
        "MemTotal:       16384000 kB\n"
        "MemFree:         1024000 kB\n"
        "MemAvailable:    8192000 kB\n"
        "SwapTotal:      99999999 kB\n"
        "SwapFree:       99999999 kB\n");
}

const char* kV2Mountinfo =
    "25 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "30 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n";

const char* kV1Mountinfo =
    "40 30 0:35 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:18 - cgroup "
    "cgroup rw,memory\n"
    "41 30 0:36 / /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup "
    "rw,cpu\n";

}  // namespace

TEST(AvailableMemory, MeminfoOnly) {
  test::TempDir t;
  write_meminfo(t.path());
  AvailableMemory a = probe_available_memory(t.path().string());
  EXPECT_EQ(a.bytes, 8388608000u);
  EXPECT_EQ(a.mem_available, 8388608000u);
  EXPECT_EQ(a.mem_total, 16777216000u);  // swap is not counted anywhere
  EXPECT_EQ(a.source, "MemAvailable (/proc/meminfo)");
}

TEST(AvailableMemory, CgroupV2LimitBelowMemAvailableWins) {
  test::TempDir t;
  write_meminfo(t.path());
  write(t.path() / "proc/self/cgroup", "0::/user.slice/app.scope\n");
  write(t.path() / "proc/self/mountinfo", kV2Mountinfo);
  const fs::path cg = t.path() / "sys/fs/cgroup/user.slice/app.scope";
  write(cg / "memory.max", "2147483648\n");
  write(cg / "memory.current", "536870912\n");
  AvailableMemory a = probe_available_memory(t.path().string());
  EXPECT_EQ(a.bytes, 1610612736u);  // 2 GiB - 512 MiB
  EXPECT_EQ(a.source, "cgroup v2 memory.max - memory.current (/sys/fs/cgroup/user.slice/app.scope)");
  EXPECT_EQ(a.mem_available, 8388608000u);
}

TEST(AvailableMemory, CgroupV2MaxMeansUnlimited) {
  test::TempDir t;
  write_meminfo(t.path());
  write(t.path() / "proc/self/cgroup", "0::/app\n");
  write(t.path() / "proc/self/mountinfo", kV2Mountinfo);
  write(t.path() / "sys/fs/cgroup/app/memory.max", "max\n");
  write(t.path() / "sys/fs/cgroup/app/memory.current", "536870912\n");
  AvailableMemory a = probe_available_memory(t.path().string());
  EXPECT_EQ(a.bytes, 8388608000u);
  EXPECT_EQ(a.source, "MemAvailable (/proc/meminfo)");
}

TEST(AvailableMemory, CgroupV2ParentLimitIsTighter) {
  test::TempDir t;
  write_meminfo(t.path());
  write(t.path() / "proc/self/cgroup", "0::/user.slice/app.scope\n");
  write(t.path() / "proc/self/mountinfo", kV2Mountinfo);
  const fs::path parent = t.path() / "sys/fs/cgroup/user.slice";
  write(parent / "memory.max", "1073741824\n");
  write(parent / "memory.current", "268435456\n");
  write(parent / "app.scope/memory.max", "max\n");
  write(parent / "app.scope/memory.current", "1000\n");
  AvailableMemory a = probe_available_memory(t.path().string());
  EXPECT_EQ(a.bytes, 805306368u);  // 1 GiB - 256 MiB
  EXPECT_EQ(a.source, "cgroup v2 memory.max - memory.current (/sys/fs/cgroup/user.slice)");
}

TEST(AvailableMemory, CgroupV2WithoutMountinfoUsesTheUnifiedMount) {
  test::TempDir t;
  write_meminfo(t.path());
  write(t.path() / "proc/self/cgroup", "0::/\n");
  write(t.path() / "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
  write(t.path() / "sys/fs/cgroup/memory.max", "4294967296\n");
  write(t.path() / "sys/fs/cgroup/memory.current", "4294967296\n");
  AvailableMemory a = probe_available_memory(t.path().string());
  EXPECT_EQ(a.bytes, 0u);  // at the limit already
  EXPECT_EQ(a.source, "cgroup v2 memory.max - memory.current (/sys/fs/cgroup)");
}

TEST(AvailableMemory, CgroupV2UsageOverLimitIsZero) {
  test::TempDir t;
  write_meminfo(t.path());
  write(t.path() / "proc/self/cgroup", "0::/a\n");
  write(t.path() / "proc/self/mountinfo", kV2Mountinfo);
  write(t.path() / "sys/fs/cgroup/a/memory.max", "1000000\n");
  write(t.path() / "sys/fs/cgroup/a/memory.current", "2000000\n");
  EXPECT_EQ(probe_available_memory(t.path().string()).bytes, 0u);
}

TEST(AvailableMemory, ContainerPathMissingFallsBackToTheMountPoint) {
  // Inside a container /proc/self/cgroup may show the host's path, while the container's own
  // cgroup is mounted at /sys/fs/cgroup.
  test::TempDir t;
  write_meminfo(t.path());
  write(t.path() / "proc/self/cgroup", "0::/kubepods/pod123/abc\n");
  write(t.path() / "proc/self/mountinfo", kV2Mountinfo);
  write(t.path() / "sys/fs/cgroup/memory.max", "3221225472\n");
  write(t.path() / "sys/fs/cgroup/memory.current", "1073741824\n");
  AvailableMemory a = probe_available_memory(t.path().string());
  EXPECT_EQ(a.bytes, 2147483648u);
  EXPECT_EQ(a.source, "cgroup v2 memory.max - memory.current (/sys/fs/cgroup)");
}

TEST(AvailableMemory, CgroupV1Limit) {
  test::TempDir t;
  write_meminfo(t.path());
  write(t.path() / "proc/self/cgroup", "5:cpu:/\n4:memory:/docker/abc\n0::/\n");
  write(t.path() / "proc/self/mountinfo", kV1Mountinfo);
  const fs::path cg = t.path() / "sys/fs/cgroup/memory/docker/abc";
  write(cg / "memory.limit_in_bytes", "1073741824\n");
  write(cg / "memory.usage_in_bytes", "104857600\n");
  AvailableMemory a = probe_available_memory(t.path().string());
  EXPECT_EQ(a.bytes, 968884224u);  // 1 GiB - 100 MiB
  EXPECT_EQ(a.source,
            "cgroup v1 memory.limit_in_bytes - memory.usage_in_bytes (/sys/fs/cgroup/memory/docker/abc)");
}

TEST(AvailableMemory, CgroupV1UnlimitedValueIsIgnored) {
  test::TempDir t;
  write_meminfo(t.path());
  write(t.path() / "proc/self/cgroup", "4:memory:/x\n");
  write(t.path() / "proc/self/mountinfo", kV1Mountinfo);
  write(t.path() / "sys/fs/cgroup/memory/x/memory.limit_in_bytes", "9223372036854771712\n");
  write(t.path() / "sys/fs/cgroup/memory/x/memory.usage_in_bytes", "10223616\n");
  write(t.path() / "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  write(t.path() / "sys/fs/cgroup/memory/memory.usage_in_bytes", "297816064\n");
  AvailableMemory a = probe_available_memory(t.path().string());
  EXPECT_EQ(a.bytes, 8388608000u);
  EXPECT_EQ(a.source, "MemAvailable (/proc/meminfo)");
}

TEST(AvailableMemory, LimitAboveMemAvailableLosesToMeminfo) {
  test::TempDir t;
  write_meminfo(t.path());
  write(t.path() / "proc/self/cgroup", "0::/a\n");
  write(t.path() / "proc/self/mountinfo", kV2Mountinfo);
  write(t.path() / "sys/fs/cgroup/a/memory.max", "68719476736\n");
  write(t.path() / "sys/fs/cgroup/a/memory.current", "0\n");
  EXPECT_EQ(probe_available_memory(t.path().string()).source, "MemAvailable (/proc/meminfo)");
}

TEST(AvailableMemory, OldKernelWithoutMemAvailableUsesMemFree) {
  test::TempDir t;
  write(t.path() / "proc/meminfo", "MemTotal: 2048 kB\nMemFree: 1024 kB\n");
  AvailableMemory a = probe_available_memory(t.path().string());
  EXPECT_EQ(a.bytes, 1048576u);
  EXPECT_EQ(a.source, "MemFree (/proc/meminfo has no MemAvailable)");
}

TEST(AvailableMemory, MissingMeminfoIsAnIoError) {
  test::TempDir t;
  try {
    probe_available_memory(t.path().string());
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("proc/meminfo"), std::string::npos) << e.what();
  }
}

TEST(AvailableMemory, MeminfoWithoutFiguresIsAFormatError) {
  test::TempDir t;
  write(t.path() / "proc/meminfo", "Buffers: 10 kB\n");
  try {
    probe_available_memory(t.path().string());
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("MemAvailable"), std::string::npos) << e.what();
  }
}

TEST(AvailableMemory, BudgetOverridesAndSaysSo) {
  AvailableMemory a = budget_available_memory(12345);
  EXPECT_EQ(a.bytes, 12345u);
  EXPECT_EQ(a.source, "--memory-budget");
}

TEST(AvailableMemory, ThisMachineAnswers) {
  AvailableMemory a = probe_available_memory();
  EXPECT_GT(a.bytes, 0u);
  EXPECT_GT(a.mem_total, 0u);
  EXPECT_LE(a.bytes, a.mem_total);
}
