// Dense decoder families: Llama-like entries built from the shared tables, plus Phi-3 (fused
// qkv / gate_up) and Falcon (fused qkv, LayerNorm with bias, GELU MLP).
#include "arch/tables.h"
#include "mlxcel/errors.h"

namespace mlxcel::arch {
namespace {

using namespace tables;

Family llama_like(std::string_view name, std::vector<std::string_view> types) {
  Family f;
  f.name = name;
  f.model_types = std::move(types);
  f.pre = embed_tokens();
  f.layer = two_norms();
  f.attention = gqa_attention();
  f.dense = gated_mlp();
  f.post = final_norm_and_head();
  return f;
}

// Falcon: fused query_key_value whose width depends on the attention variant; norms with bias
// whose layout depends on new_decoder_architecture / parallel_attn.
void derive_falcon(const ConfigView& cv, ModelPlan& p) {
  auto& e = p.env;
  const bool new_arch = cv.bool_or("new_decoder_architecture", false);
  const bool multi_query = cv.bool_or("multi_query", true);
  const bool parallel = cv.bool_or("parallel_attn", true);
  uint64_t kv = e["heads"];
  if (new_arch) {
    kv = cv.u64_or("num_key_value_heads", e["heads"]);
  } else if (multi_query) {
    kv = 1;
  }
  e["kv_heads"] = kv;
  e["kv_dim"] = dim_mul(cv, "num_key_value_heads", kv, e["head_dim"]);
  // new arch: (heads + 2 kv) * head_dim; multi-query: hidden + 2 head_dim; else 3 hidden.
  e["qkv_out"] = dim_add(cv, "num_key_value_heads", e["q_dim"],
                         dim_mul(cv, "num_key_value_heads", 2, e["kv_dim"]));
  if (!cv.find("intermediate_size")) e["inter"] = dim_mul(cv, "hidden_size", 4, e["hidden"]);
  e["bias"] = cv.bool_or("bias", false) ? 1 : 0;
  const uint64_t ln_count = cv.u64_or("num_ln_in_parallel_attn", new_arch ? 2 : 1);
  e["ln_pair"] = (new_arch && ln_count == 2) ? 1 : 0;
  e["ln_single"] = e["ln_pair"] ? 0 : 1;
  e["post_ln"] = (!parallel && !new_arch) ? 1 : 0;
}

Family falcon() {
  Family f;
  f.name = "falcon";
  f.model_types = {"falcon", "RefinedWeb", "RefinedWebModel"};
  f.tie_default = true;
  f.needs_intermediate = false;
  f.model_prefix = "transformer.";
  f.layers_name = "h";
  f.derive = derive_falcon;
  f.pre = {{"{m}word_embeddings.weight", "vocab,hidden", C::Embeddings, Q::Embedding}};
  f.layer = {
      {"ln_attn.weight", "hidden", C::Norms, Q::Float, "ln_pair"},
      {"ln_attn.bias", "hidden", C::Norms, Q::Float, "ln_pair"},
      {"ln_mlp.weight", "hidden", C::Norms, Q::Float, "ln_pair"},
      {"ln_mlp.bias", "hidden", C::Norms, Q::Float, "ln_pair"},
      {"input_layernorm.weight", "hidden", C::Norms, Q::Float, "ln_single"},
      {"input_layernorm.bias", "hidden", C::Norms, Q::Float, "ln_single"},
      {"post_attention_layernorm.weight", "hidden", C::Norms, Q::Float, "post_ln"},
      {"post_attention_layernorm.bias", "hidden", C::Norms, Q::Float, "post_ln"},
  };
  f.attention = {
      {"self_attention.query_key_value.weight", "qkv_out,hidden", C::Attention, Q::Linear},
      {"self_attention.query_key_value.bias", "qkv_out", C::Attention, Q::Float, "bias"},
      {"self_attention.dense.weight", "hidden,q_dim", C::Attention, Q::Linear},
      {"self_attention.dense.bias", "hidden", C::Attention, Q::Float, "bias"},
  };
  f.dense = {
      {"mlp.dense_h_to_4h.weight", "inter,hidden", C::Mlp, Q::Linear},
      {"mlp.dense_h_to_4h.bias", "inter", C::Mlp, Q::Float, "bias"},
      {"mlp.dense_4h_to_h.weight", "hidden,inter", C::Mlp, Q::Linear},
      {"mlp.dense_4h_to_h.bias", "hidden", C::Mlp, Q::Float, "bias"},
  };
  f.post = {{"{m}ln_f.weight", "hidden", C::Norms},
            {"{m}ln_f.bias", "hidden", C::Norms},
            {"{head}.weight", "vocab,hidden", C::OutputHead, Q::Head, "!tie"}};
  return f;
}

Family phi3() {
  Family f = llama_like("phi3", {"phi3"});
  f.sliding = SlidingRule::AllLayers;
  f.attention = {
      {"self_attn.qkv_proj.weight", "q_dim+2*kv_dim,hidden", C::Attention, Q::Linear},
      {"self_attn.o_proj.weight", "hidden,q_dim", C::Attention, Q::Linear},
  };
  f.dense = {
      {"mlp.gate_up_proj.weight", "2*inter,hidden", C::Mlp, Q::Linear},
      {"mlp.down_proj.weight", "hidden,inter", C::Mlp, Q::Linear},
  };
  return f;
}

}  // namespace

void add_dense_families(std::vector<Family>& out) {
  Family llama = llama_like("llama", {"llama"});
  llama.runnable = true;
  out.push_back(std::move(llama));

  // Llama's tensors and memory, but some layers skip RoPE (no_rope_layers); the runtime's llama
  // block applies RoPE on every layer, so it must not run these checkpoints.
  out.push_back(llama_like("smollm3", {"smollm3"}));

  Family mistral = llama_like("mistral", {"mistral"});
  mistral.sliding = SlidingRule::AllLayers;
  mistral.runnable = true;
  out.push_back(std::move(mistral));

  Family qwen2 = llama_like("qwen2", {"qwen2"});
  qwen2.qkv_bias = true;
  qwen2.sliding = SlidingRule::Qwen;
  qwen2.runnable = true;
  out.push_back(std::move(qwen2));

  Family qwen3 = llama_like("qwen3", {"qwen3"});
  qwen3.qk_norm = true;
  qwen3.sliding = SlidingRule::Qwen;
  qwen3.fp8_scales_float = true;
  qwen3.runnable = true;
  out.push_back(std::move(qwen3));

  Family gemma = llama_like("gemma", {"gemma"});
  gemma.tie_default = true;
  out.push_back(std::move(gemma));

  Family gemma2 = llama_like("gemma2", {"gemma2"});
  gemma2.tie_default = true;
  gemma2.layer = four_norms();
  gemma2.sliding = SlidingRule::Gemma2;
  out.push_back(std::move(gemma2));

  Family gemma3 = llama_like("gemma3", {"gemma3", "gemma3_text"});
  gemma3.tie_default = true;
  gemma3.layer = four_norms();
  gemma3.qk_norm = true;
  gemma3.sliding = SlidingRule::Gemma3;
  gemma3.multimodal_prefix = "language_model.model.";
  gemma3.multimodal_head_name = "language_model.lm_head";
  out.push_back(std::move(gemma3));

  out.push_back(phi3());
  out.push_back(llama_like("granite", {"granite"}));
  out.push_back(falcon());
}

}  // namespace mlxcel::arch
