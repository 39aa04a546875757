// Internal helpers shared by analytic_spec and the spec builder.
#pragma once

#include <vector>

#include "arch/family.h"
#include "arch/quantize.h"
#include "mlxcel/model_spec.h"

namespace mlxcel::arch {

// Every float tensor of the model as its HF checkpoint names it; MTP layers included when
// `mtp_layers` > 0 (their tensors count toward Component::Other).
std::vector<LogicalTensor> logical_tensors(const ModelPlan& plan, uint64_t mtp_layers,
                                           const std::string& config_name);

// Multi-token-prediction weights (DeepSeek "model.layers.{>= num_layers}", Qwen "mtp.*") are not
// used for plain decoding: they count toward "other" whatever their block.
void mark_mtp_tensors(std::vector<TensorSpec>& tensors, uint64_t num_layers);

// Dims of the plan in ModelSpec form.
ModelDims dims_of(const ModelPlan& plan);

}  // namespace mlxcel::arch
