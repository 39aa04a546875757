#include "io/resources.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "mlxcel/errors.h"

namespace mlxcel::io {
namespace fs = std::filesystem;

namespace {

// The running binary's directory, from /proc/self/exe (symlinks to the binary resolve to it).
std::optional<fs::path> binary_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec || exe.empty()) return std::nullopt;
  return exe.parent_path();
}

}  // namespace

std::vector<std::string> resource_candidates(std::string_view relative) {
  std::vector<std::string> out;
  if (const char* env = std::getenv("MLXCEL_DATA_DIR"); env != nullptr && *env != '\0')
    out.push_back((fs::path(env) / relative).string());
  if (auto dir = binary_dir()) {
    out.push_back((dir->parent_path() / "share" / "mlxcel" / relative).lexically_normal().string());
    out.push_back((*dir / "share" / "mlxcel" / relative).lexically_normal().string());
  }
  return out;
}

std::optional<std::string> find_resource(std::string_view relative) {
  for (const std::string& c : resource_candidates(relative)) {
    std::error_code ec;
    if (fs::exists(c, ec)) return c;
  }
  return std::nullopt;
}

std::string default_model_dir(const std::string& component) {
  const std::string relative = "models/stories260K";
  if (auto found = find_resource(relative)) return *found;
  std::string looked;
  for (const std::string& c : resource_candidates(relative)) looked += (looked.empty() ? "" : ", ") + c;
  throw IoError(component, fmt::format("no MODEL given and the default model is not installed beside "
                                       "the binary (MODEL, {}, looked in: {})",
                                       relative, looked.empty() ? "nowhere: /proc/self/exe unreadable" : looked));
}

}  // namespace mlxcel::io
