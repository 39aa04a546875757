// llama2.c checkpoints (Karpathy's legacy "version 0" .bin): a 7-int32 header followed by float32
// tensors in a fixed order. Read, validated against the file size, and turned into the tensors
// and config.json of a standard Hugging Face Llama directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mlxcel::runtime {

struct Llama2cConfig {
  uint64_t dim = 0;
  uint64_t hidden_dim = 0;
  uint64_t n_layers = 0;
  uint64_t n_heads = 0;
  uint64_t n_kv_heads = 0;
  uint64_t vocab_size = 0;
  bool shared_classifier = true;  // vocab_size > 0 in the header
  uint64_t seq_len = 0;
};

struct Llama2cCheckpoint {
  std::string path;
  Llama2cConfig config;
  // Row-major float32 arrays, llama2.c shapes (per-layer tensors stacked on the first axis).
  std::vector<float> token_embedding;  // [vocab, dim]
  std::vector<float> rms_att;          // [L, dim]
  std::vector<float> wq;               // [L, dim, dim]
  std::vector<float> wk;               // [L, kv_dim, dim]
  std::vector<float> wv;               // [L, kv_dim, dim]
  std::vector<float> wo;               // [L, dim, dim]
  std::vector<float> rms_ffn;          // [L, dim]
  std::vector<float> w1;               // [L, hidden, dim]
  std::vector<float> w2;               // [L, dim, hidden]
  std::vector<float> w3;               // [L, hidden, dim]
  std::vector<float> rms_final;        // [dim]
  std::vector<float> wcls;             // [vocab, dim] when not shared, else empty
};

// Throws IoError (cannot open/read) or FormatError naming the file and the field (header too
// short, a dimension <= 0, heads not dividing dim, kv heads not dividing heads, an odd head size,
// or a file size different from what the header implies).
Llama2cCheckpoint read_llama2c_checkpoint(const std::string& path);

struct HfTensor {
  std::string name;
  std::vector<uint64_t> shape;
  std::vector<float> data;
};

// The HF Llama tensors (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight, ...).
// q/k projection rows are permuted per head from llama2.c's interleaved RoPE pairs (2j, 2j+1) to
// HF's rotate-half layout (j, j + head_dim/2), so the standard Llama forward pass applies.
std::vector<HfTensor> llama2c_hf_tensors(const Llama2cCheckpoint& ckpt);

// config.json for the converted model (LlamaForCausalLM, float32, bos 1 / eos 2).
nlohmann::json llama2c_hf_config(const Llama2cConfig& config);

}  // namespace mlxcel::runtime
