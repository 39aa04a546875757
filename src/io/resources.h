// Files that ship with mlxcel (the default model), found relative to the running binary so that
// an installed or copied tree works wherever it lands; never through the build machine's paths.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlxcel::io {

// Where `relative` (e.g. "models/stories260K") is looked for, in order: $MLXCEL_DATA_DIR/relative
// when that variable is set, <dir of the binary>/../share/mlxcel/relative (an install prefix),
// <dir of the binary>/share/mlxcel/relative (a build tree, which copies its resources there).
std::vector<std::string> resource_candidates(std::string_view relative);

// The first candidate that exists; nullopt when none does.
std::optional<std::string> find_resource(std::string_view relative);

// The embedded default model's directory; IoError naming every place looked when missing.
std::string default_model_dir(const std::string& component);

}  // namespace mlxcel::io
