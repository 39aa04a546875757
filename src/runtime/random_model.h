// Random-weight models from any supported config.json, for tests and benchmarks: the tensor list
// comes from the architecture registry (analytic_spec), the values from a seeded generator, and
// the result is a standard safetensors directory with a byte-level tokenizer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "mlxcel/dtype.h"

namespace mlxcel::runtime {

struct RandomModelOptions {
  DType dtype = DType::BF16;           // float dtype of the weights (and of MLX scales/biases)
  std::optional<uint32_t> bits;        // MLX affine quantization (4 or 8), none when unset
  uint32_t group_size = 64;
  uint64_t seed = 0;
  // Dimension overrides for tiny test models; head_dim follows hidden / heads when either is
  // overridden and head_dim is not.
  std::optional<uint64_t> layers, hidden, intermediate, heads, kv_heads, head_dim, vocab;
};

// The config.json the model gets: overrides applied, torch_dtype set, bos/eos set to the
// generated tokenizer's ids, "quantization" added when quantized. Throws UsageError for bad
// overrides.
nlohmann::json random_model_config(const nlohmann::json& config, const RandomModelOptions& options);

// What make_random_model will write and hold, planned from the registry before any value is
// made (a config whose overrides did not apply must not fill the disk or meet the OOM killer).
struct RandomModelPlan {
  uint64_t float_bytes = 0;   // the weights in the float dtype
  uint64_t file_bytes = 0;    // model.safetensors' tensor data (quantized when asked)
  uint64_t memory_bytes = 0;  // peak heap of the writer: every output tensor + one f32 tensor
};
RandomModelPlan plan_random_model(const nlohmann::json& config, const RandomModelOptions& options);

// Writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json to out_dir.
// Values: norms 1 + U(-0.1, 0.1), biases U(-0.1, 0.1), matrices U(-1, 1) / sqrt(in features),
// the embedding U(-1, 1). Quantized models quantize those same f32 values (MLX affine, every 2-D
// weight whose row length the group divides). Throws UnsupportedArchitecture / ConfigError for
// configs the registry cannot derive, UsageError for a vocabulary under 258 (the tokenizer's
// 256 bytes + BOS + EOS).
void make_random_model(const nlohmann::json& config, const RandomModelOptions& options, const std::string& out_dir);

// A byte-level BPE tokenizer.json with no merges: ids 0..255 are the bytes (GPT-2 byte-to-unicode
// spelling), 256 "<|bos|>", 257 "<|eos|>"; BOS is added by the post-processor.
std::string byte_level_tokenizer_json();
std::string byte_level_tokenizer_config_json();
inline constexpr int32_t kRandomBos = 256;
inline constexpr int32_t kRandomEos = 257;

}  // namespace mlxcel::runtime
