#include "support/test_paths.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace mlxcel::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mlxcel-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string testdata(const std::string& rel) { return std::string(MLXCEL_TESTDATA_DIR) + "/" + rel; }

}  // namespace mlxcel::test
