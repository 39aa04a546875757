// Model::bind_weights: gives every loaded tensor its role in the forward pass and checks shapes.
#include <algorithm>

#include <fmt/format.h>

#include "core/mlx_affine.h"
#include "mlxcel/errors.h"
#include "runtime/model.h"

namespace mlxcel::runtime {
namespace {

constexpr const char* kComponent = "runtime";

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

std::string shape_str(const std::vector<uint64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

void Model::bind_weights() {
  std::vector<bool> used(spec_.tensors.size(), false);
  auto find = [&](const std::string& name) -> const TensorSpec* {
    auto it = std::lower_bound(by_name_.begin(), by_name_.end(), std::make_pair(name, size_t{0}));
    if (it == by_name_.end() || it->first != name) return nullptr;
    used[it->second] = true;
    return &spec_.tensors[it->second];
  };
  auto data_of = [&](const TensorSpec* t) -> const void* { return tensors_[static_cast<size_t>(t - spec_.tensors.data())].data(); };
  auto require = [&](const std::string& name) -> const TensorSpec* {
    const TensorSpec* t = find(name);
    if (!t) throw FormatError(kComponent, fmt::format("missing tensor ({}, {})", spec_.root, name));
    return t;
  };
  auto vector = [&](const std::string& name, uint64_t len, bool optional) -> NormWeight {
    const TensorSpec* t = optional ? find(name) : require(name);
    if (!t) return {};
    if (!is_float(t->dtype) || t->shape != std::vector<uint64_t>{len}) {
      throw FormatError(kComponent, fmt::format("tensor has the wrong shape or dtype ({}, {}, {} {}, expected [{}] float)",
                                                spec_.root, name, dtype_name(t->dtype), shape_str(t->shape), len));
    }
    return {data_of(t), t->dtype};
  };
  // A [rows, cols] weight: dense float, or MLX affine (U32 packed + scales + biases).
  auto matrix = [&](const std::string& prefix, uint64_t rows, uint64_t cols) -> kernels::Weight {
    const std::string wname = prefix + ".weight";
    const TensorSpec* w = require(wname);
    kernels::Weight out;
    if (w->dtype == DType::U32) {
      const TensorSpec* s = require(prefix + ".scales");
      const TensorSpec* b = require(prefix + ".biases");
      const uint64_t packed = w->shape.size() == 2 ? w->shape[1] : 0;
      const uint64_t bits = mlx_affine_bits(packed, cols);
      const uint64_t groups = s->shape.size() == 2 ? s->shape[1] : 0;
      if (w->shape.size() != 2 || w->shape[0] != rows || (bits != 4 && bits != 8) || groups == 0 ||
          cols % groups != 0 || s->shape != std::vector<uint64_t>{rows, groups} || b->shape != s->shape ||
          b->dtype != s->dtype || !is_float(s->dtype)) {
        throw FormatError(kComponent, fmt::format("quantized tensor does not match [{}, {}] ({}, {}, weight {} scales {} {})",
                                                  rows, cols, spec_.root, wname, shape_str(w->shape),
                                                  shape_str(s->shape), dtype_name(s->dtype)));
      }
      out = kernels::affine_weight(rows, cols, static_cast<uint32_t>(bits), static_cast<uint32_t>(cols / groups),
                                   data_of(w), s->dtype, data_of(s), data_of(b));
    } else {
      if (!is_float(w->dtype) || w->shape != std::vector<uint64_t>{rows, cols}) {
        throw FormatError(kComponent, fmt::format("tensor has the wrong shape or dtype ({}, {}, {} {}, expected [{}, {}])",
                                                  spec_.root, wname, dtype_name(w->dtype), shape_str(w->shape), rows, cols));
      }
      out = kernels::dense_weight(w->dtype, rows, cols, data_of(w));
    }
    kernels::validate_weight(out);
    return out;
  };
  auto linear = [&](const std::string& prefix, uint64_t rows, uint64_t cols) -> Linear {
    Linear l;
    l.w = matrix(prefix, rows, cols);
    l.bias = vector(prefix + ".bias", rows, true);
    return l;
  };

  const ModelHyper& h = hyper_;
  const uint64_t q_dim = uint64_t{h.heads} * h.head_dim;
  const uint64_t kv_dim = uint64_t{h.kv_heads} * h.head_dim;
  embed_ = matrix("model.embed_tokens", h.vocab, h.hidden);
  final_norm_ = vector("model.norm.weight", h.hidden, false);
  if (find("lm_head.weight")) {
    lm_head_ = matrix("lm_head", h.vocab, h.hidden);
  } else if (spec_.tie_word_embeddings) {
    lm_head_ = embed_;
  } else {
    throw FormatError(kComponent, fmt::format("missing tensor (lm_head.weight) and tie_word_embeddings is false ({})",
                                              spec_.root));
  }
  layers_.resize(h.layers);
  for (uint64_t i = 0; i < h.layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    LayerWeights& L = layers_[i];
    L.attn_norm = vector(p + "input_layernorm.weight", h.hidden, false);
    L.mlp_norm = vector(p + "post_attention_layernorm.weight", h.hidden, false);
    L.q = linear(p + "self_attn.q_proj", q_dim, h.hidden);
    L.k = linear(p + "self_attn.k_proj", kv_dim, h.hidden);
    L.v = linear(p + "self_attn.v_proj", kv_dim, h.hidden);
    L.o = linear(p + "self_attn.o_proj", h.hidden, q_dim);
    L.q_norm = vector(p + "self_attn.q_norm.weight", h.head_dim, true);
    L.k_norm = vector(p + "self_attn.k_norm.weight", h.head_dim, true);
    if ((L.q_norm.data == nullptr) != (L.k_norm.data == nullptr)) {
      throw FormatError(kComponent, fmt::format("q_norm and k_norm must come together ({}, {}self_attn)", spec_.root, p));
    }
    L.gate = linear(p + "mlp.gate_proj", h.intermediate, h.hidden);
    L.up = linear(p + "mlp.up_proj", h.intermediate, h.hidden);
    L.down = linear(p + "mlp.down_proj", h.hidden, h.intermediate);
  }
  for (size_t i = 0; i < used.size(); ++i) {
    const std::string& name = spec_.tensors[i].name;
    if (used[i] || name.ends_with("rotary_emb.inv_freq")) continue;
    throw UnsupportedArchitecture(kComponent, fmt::format("tensor not used by the llama forward pass ({}, {})",
                                                          spec_.root, name));
  }
}

}  // namespace mlxcel::runtime
