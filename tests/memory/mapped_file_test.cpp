// Read-only mappings: contents, counting in mapped_memory (never active), and IoError cases.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "memory_fixture.h"
#include "mlxcel/errors.h"
#include "mlxcel/memory.h"
#include "support/test_paths.h"

namespace mlxcel::test {
namespace {

using Mapped = MemoryTest;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// 10000 bytes where byte i is i % 251.
std::string write_pattern(const TempDir& dir) {
  std::string path = dir.file("pattern.bin");
  std::vector<char> data(10000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  return path;
}

TEST_F(Mapped, WholeFileIsCountedAsMappedNotActive) {
  TempDir dir;
  std::string path = write_pattern(dir);
  {
    MappedFile m = MappedFile::open(path);
    EXPECT_EQ(m.size(), 10000u);
    EXPECT_EQ(m.offset(), 0u);
    EXPECT_EQ(m.path(), path);
    EXPECT_EQ(mapped_memory(), 10000u);
    EXPECT_EQ(active_memory(), 0u);
    EXPECT_EQ(static_cast<int>(m.data()[0]), 0);
    EXPECT_EQ(static_cast<int>(m.data()[9999]), 210);  // 9999 = 39 * 251 + 210
  }
  EXPECT_EQ(mapped_memory(), 0u);
}

TEST_F(Mapped, UnalignedOffsetAndLength) {
  TempDir dir;
  std::string path = write_pattern(dir);
  MappedFile whole = MappedFile::open(path);
  MappedFile part = MappedFile::open(path, 5000, 100);
  EXPECT_EQ(part.size(), 100u);
  EXPECT_EQ(static_cast<int>(part.data()[0]), 231);   // 5000 = 19 * 251 + 231
  EXPECT_EQ(static_cast<int>(part.data()[99]), 79);   // 5099 = 20 * 251 + 79
  EXPECT_EQ(mapped_memory(), 10100u);                 // 10000 + 100
  MappedFile tail = MappedFile::open(path, 9990);     // to the end: 10 bytes
  EXPECT_EQ(tail.size(), 10u);
  EXPECT_EQ(mapped_memory(), 10110u);
}

TEST_F(Mapped, MovesKeepOneCount) {
  TempDir dir;
  std::string path = write_pattern(dir);
  MappedFile a = MappedFile::open(path, 0, 4000);
  MappedFile b = std::move(a);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(mapped_memory(), 4000u);
  MappedFile c = MappedFile::open(path, 0, 1000);
  c = std::move(b);  // c's 1000 bytes are unmapped
  EXPECT_EQ(mapped_memory(), 4000u);
  c.reset();
  EXPECT_EQ(mapped_memory(), 0u);
}

TEST_F(Mapped, EmptyRangeMapsNothing) {
  TempDir dir;
  std::string path = write_pattern(dir);
  MappedFile m = MappedFile::open(path, 10000, 0);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.data(), nullptr);
  EXPECT_EQ(mapped_memory(), 0u);
}

TEST_F(Mapped, MissingFileThrowsIoErrorNamingIt) {
  TempDir dir;
  std::string path = dir.file("absent.safetensors");
  try {
    MappedFile::open(path);
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_TRUE(contains(e.what(), "absent.safetensors")) << e.what();
    EXPECT_TRUE(contains(e.what(), "cannot open")) << e.what();
  }
}

TEST_F(Mapped, RangePastTheEndThrowsIoError) {
  TempDir dir;
  std::string path = write_pattern(dir);
  try {
    MappedFile::open(path, 9000, 1001);
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_TRUE(contains(e.what(), "past the end")) << e.what();
    EXPECT_TRUE(contains(e.what(), "pattern.bin")) << e.what();
  }
  EXPECT_EQ(mapped_memory(), 0u);
}

TEST_F(Mapped, OffsetPastTheEndThrowsIoError) {
  TempDir dir;
  std::string path = write_pattern(dir);
  try {
    MappedFile::open(path, 10001);
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_TRUE(contains(e.what(), "offset 10001")) << e.what();
    EXPECT_TRUE(contains(e.what(), "pattern.bin")) << e.what();
  }
}

TEST_F(Mapped, OverflowingRangeThrowsIoError) {
  TempDir dir;
  std::string path = write_pattern(dir);
  EXPECT_THROW(MappedFile::open(path, 5000, std::numeric_limits<uint64_t>::max()), IoError);
}

TEST_F(Mapped, DirectoryThrowsIoError) {
  TempDir dir;
  try {
    MappedFile::open(dir.path());
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_TRUE(contains(e.what(), "not a regular file")) << e.what();
  }
}

}  // namespace
}  // namespace mlxcel::test
