// io helpers: size-capped reads of small files, the staged output directory that appears whole or
// not at all, and the field named in JSON error messages.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include <gtest/gtest.h>

#include "io/file_util.h"
#include "io_test_util.h"
#include "mlxcel/errors.h"
#include "support/test_paths.h"

namespace mlxcel {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ReadSmallFile, ReadsTheWholeFile) {
  TempDir dir;
  test::write_file(dir.file("c.json"), "{\"a\": 1}");
  EXPECT_EQ(io::read_small_file(dir.file("c.json"), 100, "t", "config"), "{\"a\": 1}");
}

TEST(ReadSmallFile, TooLargeIsFormatErrorBeforeReading) {
  TempDir dir;
  const std::string path = dir.file("big.json");
  test::write_file(path, "");
  ASSERT_EQ(::truncate(path.c_str(), 1001), 0);
  EXPECT_THROW_MSG(io::read_small_file(path, 1000, "t", "config"), FormatError,
                   "[t] config too large: 1001 bytes, the limit is 1000 (" + path + ", size, 1001)");
}

TEST(ReadSmallFile, FifoIsRefusedNotReadForever) {
  TempDir dir;
  const std::string path = dir.file("fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  // No writer: a blocking open would wait forever; the read must not even start.
  EXPECT_THROW_MSG(io::read_small_file(path, 1000, "t", "config"), IoError,
                   "[t] config is not a regular file (" + path + ", path, a device, FIFO or socket)");
}

TEST(ReadSmallFile, DirectoryIsRefused) {
  TempDir dir;
  EXPECT_THROW_MSG(io::read_small_file(dir.path().string(), 1000, "t", "config"), IoError,
                   "config is not a regular file (" + dir.path().string() + ", path, a directory)");
}

TEST(ReadSmallFile, MissingFileIsIoErrorNamingWhat) {
  TempDir dir;
  EXPECT_THROW_MSG(io::read_small_file(dir.file("none.json"), 1000, "t", "calibration profile"), IoError,
                   "[t] cannot open calibration profile (" + dir.file("none.json") +
                       ", path, No such file or directory)");
}

TEST(StagedDir, CommitCreatesTheDirectoryWhole) {
  TempDir dir;
  const fs::path out = dir.path() / "out";
  {
    io::StagedDir s(out.string(), "t");
    test::write_file(s.file("a"), "1");
    test::write_file(s.file("b"), "2");
    EXPECT_FALSE(fs::exists(out));
    s.commit();
  }
  EXPECT_EQ(entries(out), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"out"}));  // no staging left
}

TEST(StagedDir, WithoutCommitNothingIsLeft) {
  TempDir dir;
  const fs::path out = dir.path() / "out";
  try {
    io::StagedDir s(out.string(), "t");
    test::write_file(s.file("model.safetensors"), "weights");
    throw std::runtime_error("tokenizer is bad");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(entries(dir.path()).empty());
}

TEST(StagedDir, CommitIntoAnEmptyDirectory) {
  TempDir dir;
  const fs::path out = dir.path() / "out";
  fs::create_directory(out);
  io::StagedDir s((out / "").string(), "t");  // a trailing slash names the same directory
  test::write_file(s.file("a"), "1");
  s.commit();
  EXPECT_EQ(entries(out), (std::vector<std::string>{"a"}));
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"out"}));
}

TEST(StagedDir, CommitBesideExistingFilesReplacesSameNames) {
  TempDir dir;
  const fs::path out = dir.path() / "out";
  fs::create_directory(out);
  test::write_file((out / "keep").string(), "old");
  test::write_file((out / "a").string(), "old");
  io::StagedDir s(out.string(), "t");
  test::write_file(s.file("a"), "new");
  s.commit();
  EXPECT_EQ(entries(out), (std::vector<std::string>{"a", "keep"}));
  EXPECT_EQ(test::read_file((out / "a").string()), "new");
  EXPECT_EQ(test::read_file((out / "keep").string()), "old");
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"out"}));
}

TEST(StagedDir, FailedCommitOntoAFileLeavesNothingBehind) {
  TempDir dir;
  const fs::path out = dir.path() / "out";
  test::write_file(out.string(), "a file, not a directory");
  {
    io::StagedDir s(out.string(), "t");
    test::write_file(s.file("a"), "1");
    EXPECT_THROW_MSG(s.commit(), IoError, "cannot rename");
  }
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"out"}));
}

TEST(StagedDir, NewDirectoryGetsUsualPermissions) {
  TempDir dir;
  const fs::path out = dir.path() / "out";
  const mode_t old = ::umask(022);
  {
    io::StagedDir s(out.string(), "t");
    s.commit();
  }
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
}

TEST(JsonErrorField, TopLevel) { EXPECT_EQ(io::json_error_field("tru"), "(document)"); }

TEST(JsonErrorField, CutShortArrayNamesTheMissingElement) {
  EXPECT_EQ(io::json_error_field("[1, 2"), "[2]");
}

TEST(JsonErrorField, NestedMember) {
  EXPECT_EQ(io::json_error_field(R"({"a": 1, "text_config": {"rope_theta": 1e400}})"),
            "text_config.rope_theta");
}

TEST(JsonErrorField, ArrayElement) {
  EXPECT_EQ(io::json_error_field(R"({"shape": [4, 1e400]})"), "shape[1]");
}

TEST(JsonErrorField, ObjectInsideArray) {
  EXPECT_EQ(io::json_error_field(R"({"layers": [{"w": 1}, {"w": tru}]})"), "layers[1].w");
}

TEST(JsonErrorField, DeepNestingStopsAtTheLimit) {
  const std::string text = "{\"a\": " + std::string(100000, '[') + "}";
  const std::string field = io::json_error_field(text);
  EXPECT_EQ(field.rfind("a[0][0]", 0), 0u) << field;
  EXPECT_LE(field.size(), 83u);  // cut at 80 characters + "..."
}

}  // namespace
}  // namespace mlxcel
