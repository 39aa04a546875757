#include "mlxcel/model_spec.h"

namespace mlxcel {

std::string_view component_name(Component c) {
  switch (c) {
    case Component::Embeddings: return "embeddings";
    case Component::Attention: return "attention";
    case Component::Mlp: return "mlp";
    case Component::Experts: return "experts";
    case Component::Norms: return "norms";
    case Component::OutputHead: return "output_head";
    case Component::Other: return "other";
  }
  return "other";
}

std::string_view layer_kind_name(LayerKind k) {
  switch (k) {
    case LayerKind::Full: return "full";
    case LayerKind::Sliding: return "sliding";
    case LayerKind::Mla: return "mla";
    case LayerKind::Linear: return "linear";
    case LayerKind::None: return "none";
  }
  return "none";
}

std::string_view quant_method_name(QuantMethod m) {
  switch (m) {
    case QuantMethod::None: return "none";
    case QuantMethod::Mlx: return "mlx";
    case QuantMethod::Fp8: return "fp8";
    case QuantMethod::Gptq: return "gptq";
    case QuantMethod::Awq: return "awq";
    case QuantMethod::Gguf: return "gguf";
    case QuantMethod::Mxfp4: return "mxfp4";
  }
  return "none";
}

uint64_t ModelSpec::weight_bytes() const {
  uint64_t total = 0;
  for (const auto& t : tensors) total += t.bytes;
  return total;
}

}  // namespace mlxcel
