#include "runtime/llama2c.h"

#include <fmt/format.h>

#include "core/checked.h"
#include "mlxcel/errors.h"
#include "runtime/pread_file.h"

namespace mlxcel::runtime {
namespace {

constexpr const char* kComponent = "llama2c";

uint64_t mul(uint64_t a, uint64_t b, const std::string& path, const char* field) {
  auto r = checked_mul(a, b);
  if (!r) throw FormatError(kComponent, fmt::format("size overflows ({}, {})", path, field));
  return *r;
}

uint64_t positive(int32_t v, const std::string& path, const char* field) {
  if (v <= 0) {
    throw FormatError(kComponent, fmt::format("dimension must be positive ({}, {}, {})", path, field, v));
  }
  return static_cast<uint64_t>(v);
}

}  // namespace

Llama2cCheckpoint read_llama2c_checkpoint(const std::string& path) {
  PreadFile file(path, kComponent);
  const uint64_t file_size = file.size();
  constexpr uint64_t kHeaderBytes = 7 * sizeof(int32_t);
  if (file_size < kHeaderBytes) {
    throw FormatError(kComponent, fmt::format("file shorter than the 28-byte header ({}, header, {} bytes)",
                                              path, file_size));
  }
  int32_t h[7];
  file.read(0, h, kHeaderBytes);

  Llama2cCheckpoint ck;
  ck.path = path;
  Llama2cConfig& c = ck.config;
  c.dim = positive(h[0], path, "dim");
  c.hidden_dim = positive(h[1], path, "hidden_dim");
  c.n_layers = positive(h[2], path, "n_layers");
  c.n_heads = positive(h[3], path, "n_heads");
  c.n_kv_heads = positive(h[4], path, "n_kv_heads");
  if (h[5] == 0 || h[5] == INT32_MIN) {
    throw FormatError(kComponent, fmt::format("invalid vocab_size ({}, vocab_size, {})", path, h[5]));
  }
  c.shared_classifier = h[5] > 0;
  c.vocab_size = static_cast<uint64_t>(h[5] > 0 ? h[5] : -static_cast<int64_t>(h[5]));
  c.seq_len = positive(h[6], path, "seq_len");
  if (c.dim % c.n_heads != 0) {
    throw FormatError(kComponent, fmt::format("n_heads does not divide dim ({}, n_heads, {} for dim {})",
                                              path, c.n_heads, c.dim));
  }
  if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0) {
    throw FormatError(kComponent, fmt::format("n_kv_heads does not divide n_heads ({}, n_kv_heads, {} for {} heads)",
                                              path, c.n_kv_heads, c.n_heads));
  }
  const uint64_t head = c.dim / c.n_heads;
  if (head % 2 != 0) {
    throw FormatError(kComponent, fmt::format("odd head size cannot hold RoPE pairs ({}, head_size, {})", path, head));
  }
  const uint64_t kv_dim = mul(head, c.n_kv_heads, path, "kv_dim");
  const uint64_t L = c.n_layers;

  struct Part {
    std::vector<float>* dst;
    uint64_t elems;
    const char* field;
  };
  std::vector<float> freq_cis;  // legacy RoPE tables, unused: RoPE is recomputed from theta
  const uint64_t dd = mul(c.dim, c.dim, path, "wq");
  const uint64_t kvd = mul(kv_dim, c.dim, path, "wk");
  const uint64_t hd = mul(c.hidden_dim, c.dim, path, "w1");
  std::vector<Part> parts = {
      {&ck.token_embedding, mul(c.vocab_size, c.dim, path, "token_embedding"), "token_embedding"},
      {&ck.rms_att, mul(L, c.dim, path, "rms_att"), "rms_att"},
      {&ck.wq, mul(L, dd, path, "wq"), "wq"},
      {&ck.wk, mul(L, kvd, path, "wk"), "wk"},
      {&ck.wv, mul(L, kvd, path, "wv"), "wv"},
      {&ck.wo, mul(L, dd, path, "wo"), "wo"},
      {&ck.rms_ffn, mul(L, c.dim, path, "rms_ffn"), "rms_ffn"},
      {&ck.w1, mul(L, hd, path, "w1"), "w1"},
      {&ck.w2, mul(L, hd, path, "w2"), "w2"},
      {&ck.w3, mul(L, hd, path, "w3"), "w3"},
      {&ck.rms_final, c.dim, "rms_final"},
      {&freq_cis, mul(c.seq_len, head, path, "freq_cis"), "freq_cis"},  // real + imag halves
  };
  if (!c.shared_classifier) parts.push_back({&ck.wcls, mul(c.vocab_size, c.dim, path, "wcls"), "wcls"});

  uint64_t expected = kHeaderBytes;
  for (const Part& p : parts) {
    auto next = checked_add(expected, mul(p.elems, sizeof(float), path, p.field));
    if (!next) throw FormatError(kComponent, fmt::format("size overflows ({}, {})", path, p.field));
    expected = *next;
  }
  if (expected != file_size) {
    // Name the first tensor that does not fit, or say the file is longer than the header implies.
    uint64_t off = kHeaderBytes;
    for (const Part& p : parts) {
      uint64_t end = off + p.elems * sizeof(float);
      if (end > file_size) {
        throw FormatError(kComponent,
                          fmt::format("file too short for the header's dimensions ({}, {}, needs bytes "
                                      "{}..{}, file has {})",
                                      path, p.field, off, end, file_size));
      }
      off = end;
    }
    throw FormatError(kComponent, fmt::format("file size does not match the header's dimensions ({}, size, "
                                              "expected {} bytes, file has {})",
                                              path, expected, file_size));
  }

  uint64_t off = kHeaderBytes;
  for (const Part& p : parts) {
    p.dst->resize(p.elems);
    file.read(off, p.dst->data(), p.elems * sizeof(float));
    off += p.elems * sizeof(float);
  }
  return ck;
}

namespace {

// Rows of one projection for layer l: [rows, cols] slice of a stacked [L, rows, cols] array.
std::vector<float> layer_slice(const std::vector<float>& all, uint64_t l, uint64_t rows, uint64_t cols) {
  const uint64_t n = rows * cols;
  return std::vector<float>(all.begin() + static_cast<ptrdiff_t>(l * n),
                            all.begin() + static_cast<ptrdiff_t>((l + 1) * n));
}

// llama2.c rotates pairs (2j, 2j+1) of each head; HF rotates (j, j + head/2). Moving row 2j to j
// and 2j+1 to head/2 + j makes the rotate-half RoPE compute the same products (q.k is unchanged
// by applying one permutation to the dims of both q and k).
std::vector<float> permute_rope_rows(const std::vector<float>& w, uint64_t heads, uint64_t head, uint64_t cols) {
  std::vector<float> out(w.size());
  const uint64_t half = head / 2;
  for (uint64_t h = 0; h < heads; ++h) {
    for (uint64_t j = 0; j < half; ++j) {
      for (uint64_t par = 0; par < 2; ++par) {
        const float* src = &w[(h * head + 2 * j + par) * cols];
        float* dst = &out[(h * head + par * half + j) * cols];
        std::copy(src, src + cols, dst);
      }
    }
  }
  return out;
}

}  // namespace

std::vector<HfTensor> llama2c_hf_tensors(const Llama2cCheckpoint& ck) {
  const Llama2cConfig& c = ck.config;
  const uint64_t head = c.dim / c.n_heads;
  const uint64_t kv_dim = head * c.n_kv_heads;
  std::vector<HfTensor> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, c.dim}, ck.token_embedding});
  for (uint64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    out.push_back({p + "input_layernorm.weight", {c.dim}, layer_slice(ck.rms_att, l, 1, c.dim)});
    out.push_back({p + "self_attn.q_proj.weight", {c.dim, c.dim},
                   permute_rope_rows(layer_slice(ck.wq, l, c.dim, c.dim), c.n_heads, head, c.dim)});
    out.push_back({p + "self_attn.k_proj.weight", {kv_dim, c.dim},
                   permute_rope_rows(layer_slice(ck.wk, l, kv_dim, c.dim), c.n_kv_heads, head, c.dim)});
    out.push_back({p + "self_attn.v_proj.weight", {kv_dim, c.dim}, layer_slice(ck.wv, l, kv_dim, c.dim)});
    out.push_back({p + "self_attn.o_proj.weight", {c.dim, c.dim}, layer_slice(ck.wo, l, c.dim, c.dim)});
    out.push_back({p + "post_attention_layernorm.weight", {c.dim}, layer_slice(ck.rms_ffn, l, 1, c.dim)});
    out.push_back({p + "mlp.gate_proj.weight", {c.hidden_dim, c.dim}, layer_slice(ck.w1, l, c.hidden_dim, c.dim)});
    out.push_back({p + "mlp.down_proj.weight", {c.dim, c.hidden_dim}, layer_slice(ck.w2, l, c.dim, c.hidden_dim)});
    out.push_back({p + "mlp.up_proj.weight", {c.hidden_dim, c.dim}, layer_slice(ck.w3, l, c.hidden_dim, c.dim)});
  }
  out.push_back({"model.norm.weight", {c.dim}, ck.rms_final});
  if (!c.shared_classifier) out.push_back({"lm_head.weight", {c.vocab_size, c.dim}, ck.wcls});
  return out;
}

nlohmann::json llama2c_hf_config(const Llama2cConfig& c) {
  return {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", c.dim},
      {"intermediate_size", c.hidden_dim},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads},
      {"head_dim", c.dim / c.n_heads},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.seq_len},
      {"hidden_act", "silu"},
      {"rms_norm_eps", 1e-5},
      {"rope_theta", 10000.0},
      {"rope_scaling", nullptr},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"tie_word_embeddings", c.shared_classifier},
      {"torch_dtype", "float32"},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
  };
}

}  // namespace mlxcel::runtime
