// Turning the logical (float) tensor list of a model into the tensors a checkpoint of a given
// quantization holds: MLX affine / mx / nv modes (packed uint32 + per-group scales [+ biases]),
// FP8 with block scales, GPTQ / AWQ packed int32, and gpt-oss MXFP4 expert blocks.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arch/config_view.h"
#include "arch/family.h"
#include "mlxcel/model_spec.h"

namespace mlxcel::arch {

struct LogicalTensor {
  std::string name;
  std::vector<uint64_t> shape;
  Component comp = Component::Other;
  QClass q = QClass::Float;
  int8_t in_axis = -1;
  std::optional<DType> dtype;
};

struct QuantScheme {
  Quantization quant;                  // what is reported in ModelSpec::quant
  std::string mlx_mode = "affine";     // affine | mxfp4 | nvfp4 | mxfp8
  nlohmann::json mlx_overrides = nlohmann::json::object();  // module path -> params | false
  uint32_t mlx_router_bits = 0;        // what-if conversions: mlx-lm's router predicate
  std::vector<std::string> not_convert;  // FP8 / GPTQ / AWQ / MXFP4 exclusions
  DType fp8_scale_dtype = DType::F32;
};

// Float dtype from torch_dtype / dtype; BF16 with a warning when absent.
DType float_dtype_from_config(const ConfigView& cv, std::vector<std::string>& warnings);

// The scheme a config declares: MLX "quantization" (or a quantization_config carrying
// bits/group_size without quant_method), quantization_config quant_method fp8 / gptq / awq /
// mxfp4; None otherwise. Unknown methods are a ConfigError.
QuantScheme quant_scheme_from_config(const ConfigView& cv, const Family& family,
                                     DType float_dtype);

// A what-if scheme (AnalyticOptions::requantize); Gguf and Mxfp4 are UsageError (their layouts
// come from a file, not from a request).
QuantScheme quant_scheme_from_request(const Quantization& q, const Family& family);

// Checkpoint tensors for the logical list; overflow-checked.
std::vector<TensorSpec> materialize_tensors(std::vector<LogicalTensor> logical,
                                            const QuantScheme& scheme, DType float_dtype,
                                            const std::string& config_name);

}  // namespace mlxcel::arch
