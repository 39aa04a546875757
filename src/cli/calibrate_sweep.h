// The sweep of `mlxcel calibrate`: which models and run settings are measured. Kept apart from
// the command so the shipped profile's sweep is one readable list (docs/calibration.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mlxcel/estimate.h"

namespace mlxcel::cli {

// A directory under /tmp removed with its contents when the object goes.
class TempWorkDir {
 public:
  TempWorkDir();
  ~TempWorkDir();
  TempWorkDir(const TempWorkDir&) = delete;
  TempWorkDir& operator=(const TempWorkDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct SweepModel {
  std::string label;  // e.g. "llama-87M bf16"
  std::string path;
};

struct SweepPoint {
  uint64_t context = 0;
  uint64_t chunk = 0;
  uint32_t threads = 1;
  KvCacheType cache = KvCacheType::F16;
};

// The prompt and generated tokens of every point: a short prompt; the context is what the KV
// cache is preallocated for.
inline constexpr std::string_view kSweepPrompt = "Calibration run: the quick brown fox jumps over the lazy dog.";
inline constexpr uint64_t kSweepNewTokens = 4;

// Random-weight models from built-in llama / qwen3 shapes, in bf16, MLX 8-bit and 4-bit (quick:
// one tiny shape, bf16 and 4-bit), written under work_dir (reused when already there).
std::vector<SweepModel> make_builtin_models(const std::filesystem::path& work_dir, bool quick);

// The given models, plus MLX 8-bit and 4-bit copies (convert --quantize) of unquantized
// safetensors ones unless quick.
std::vector<SweepModel> prepare_given_models(const std::vector<std::string>& models,
                                             const std::filesystem::path& work_dir, bool quick);

// Run settings measured on every model: contexts, prefill chunks, thread counts and KV cache
// types varied together so the fit can tell the coefficients apart.
std::vector<SweepPoint> sweep_points(bool quick);

// A whole file as a string (stats JSON, /proc files); "" when it cannot be read.
std::string read_whole_file(const std::filesystem::path& p);

// Runs argv (argv[0] an absolute path) with stdout to /dev/null and stderr to `log`, waits, and
// returns its exit status (-1: killed by a signal). IoError when it cannot be started or waited for.
int run_measured_child(const std::vector<std::string>& args, const std::filesystem::path& log);

}  // namespace mlxcel::cli
