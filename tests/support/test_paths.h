// Temporary directories and paths to shared test data.
#pragma once

#include <filesystem>
#include <string>

namespace mlxcel::test {

// A fresh directory under /tmp, removed with everything in it when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Absolute path of a file under ../shared/testdata.
std::string testdata(const std::string& rel);

}  // namespace mlxcel::test
