// Helpers for the arch tests: real configs from ../shared/testdata and simple per-layer sums.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "arch/registry.h"
#include "mlxcel/model_spec.h"
#include "support/test_paths.h"

namespace mlxcel::test {

// A two-layer Llama config small enough to plan in microseconds; tests change one field of it.
inline nlohmann::json tiny_llama() {
  return nlohmann::json::parse(R"({
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100,
    "torch_dtype": "bfloat16"})");
}

inline nlohmann::json real_config(const std::string& folder) {
  if (folder.find('/') != std::string::npos) return read_config_json(testdata(folder));
  return read_config_json(testdata("configs/" + folder + "/config.json"));
}

// First letter of each layer kind: "f"ull, "s"liding, "m"la, "l"inear, "n"one.
inline std::string kinds(const ModelSpec& spec) {
  std::string out;
  for (const auto& l : spec.layers) out += layer_kind_name(l.kind)[0];
  return out;
}

// K+V bytes one token adds at f16 to the layers that cache tokens (context within every
// window); MLA stores one latent row.
inline uint64_t f16_bytes_per_token(const ModelSpec& spec) {
  uint64_t total = 0;
  for (const auto& l : spec.layers) {
    if (l.kind == LayerKind::Full || l.kind == LayerKind::Sliding)
      total += uint64_t(l.kv_heads) * (l.k_head_dim + l.v_head_dim) * 2;
    else if (l.kind == LayerKind::Mla)
      total += uint64_t(l.latent_dim) * 2;
  }
  return total;
}

inline uint64_t full_only_f16_bytes_per_token(const ModelSpec& spec) {
  uint64_t total = 0;
  for (const auto& l : spec.layers)
    if (l.kind == LayerKind::Full) total += uint64_t(l.kv_heads) * (l.k_head_dim + l.v_head_dim) * 2;
  return total;
}

inline uint64_t linear_state_bytes(const ModelSpec& spec) {
  uint64_t total = 0;
  for (const auto& l : spec.layers)
    if (l.kind == LayerKind::Linear) total += l.state_elems * 4;  // F32 states
  return total;
}

inline std::map<Component, uint64_t> by_component(const ModelSpec& spec) {
  std::map<Component, uint64_t> out;
  for (const auto& t : spec.tensors) out[t.component] += t.bytes;
  return out;
}

}  // namespace mlxcel::test
