// The architecture registry: config field aliases, per-family tensor tables and layer kinds.
// Nothing outside src/arch switches on an architecture name.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlxcel/model_spec.h"

namespace mlxcel {

struct GgufFile;

// Reads and parses a config.json; FormatError (invalid JSON/UTF-8) or IoError, naming the file.
nlohmann::json read_config_json(const std::string& path);

// Merges nested text_config (multimodal wrappers) up, keeps model_type of the text model.
nlohmann::json normalize_config(const nlohmann::json& config);

// Registry family names with the model_type spellings each accepts.
std::vector<std::string> supported_architectures();

struct AnalyticOptions {
  // What-if: derive the weights as if quantized this way (MLX affine bits/group, or None for a
  // plain float format given by float_dtype).
  std::optional<Quantization> requantize;
  std::optional<DType> float_dtype;  // override torch_dtype (bf16 / f16 / f32)
};

// Every tensor of the model derived from the config alone, with components, plus dims and layer
// caches. Throws UnsupportedArchitecture (listing supported families) or ConfigError (missing
// field, naming `config_name` and the field).
ModelSpec analytic_spec(const nlohmann::json& config, const AnalyticOptions& options = {},
                        const std::string& config_name = "config.json");

// Per-layer caches and dims from a config (used for exact specs too).
void fill_dims_and_layers(ModelSpec& spec, const nlohmann::json& config,
                          const std::string& config_name = "config.json");

// Assigns each tensor's component from its name (HF and GGUF naming).
void classify_tensors(std::vector<TensorSpec>& tensors);

// A config.json-equivalent built from GGUF metadata ("llama.block_count" -> num_hidden_layers...).
nlohmann::json config_from_gguf(const GgufFile& gguf);

struct SpecOptions {
  AnalyticOptions analytic;
  bool force_analytic = false;  // ignore headers even when weights are present
};

// Locate, read headers (never tensor data) and config, and build the spec: exact when weight
// files exist, analytic otherwise or when a what-if quantization is requested.
ModelSpec load_model_spec(const std::string& model_arg, const SpecOptions& options = {});

}  // namespace mlxcel
