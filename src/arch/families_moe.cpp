// Mixture-of-experts families (router + routed experts, optional shared experts) and the MLA
// block of DeepSeek-V2/V3 and Kimi K2. Routers and shared experts count toward "experts".
#include "arch/tables.h"
#include "mlxcel/errors.h"

namespace mlxcel::arch {
namespace {

using namespace tables;

Family base(std::string_view name, std::vector<std::string_view> types) {
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

Family mixtral() {
  Family f = base("mixtral", {"mixtral"});
  f.moe = MoeRule::All;
  f.sliding = SlidingRule::AllLayers;
  f.moe_rules = {{"block_sparse_moe.gate.weight", "experts,hidden", C::Experts, Q::Router}};
  f.expert = {
      {"block_sparse_moe.experts.{E}.w1.weight", "moe_inter,hidden", C::Experts, Q::Linear},
      {"block_sparse_moe.experts.{E}.w2.weight", "hidden,moe_inter", C::Experts, Q::Linear},
      {"block_sparse_moe.experts.{E}.w3.weight", "moe_inter,hidden", C::Experts, Q::Linear},
  };
  return f;
}

Family qwen_moe(std::string_view name, std::vector<std::string_view> types) {
  Family f = base(name, std::move(types));
  f.moe = MoeRule::QwenSparse;
  f.sliding = SlidingRule::Qwen;
  f.moe_rules = qwen_moe_block();
  f.expert = qwen_expert();
  return f;
}

// Multi-head latent attention: queries through an optional low-rank q_a/q_b pair, keys and values
// through one compressed latent (kv_lora_rank) plus a shared RoPE key part.
RuleList mla_attention() {
  return {
      {"self_attn.q_a_proj.weight", "q_lora,hidden", C::Attention, Q::Linear, "has_q_lora"},
      {"self_attn.q_a_proj.bias", "q_lora", C::Attention, Q::Float, "has_q_lora&qkv_bias"},
      {"self_attn.q_a_layernorm.weight", "q_lora", C::Norms, Q::Float, "has_q_lora"},
      {"self_attn.q_b_proj.weight", "heads*q_head,q_lora", C::Attention, Q::Linear, "has_q_lora"},
      {"self_attn.q_proj.weight", "heads*q_head,hidden", C::Attention, Q::Linear, "!has_q_lora"},
      {"self_attn.kv_a_proj_with_mqa.weight", "kv_lora+qk_rope,hidden", C::Attention, Q::Linear},
      {"self_attn.kv_a_proj_with_mqa.bias", "kv_lora+qk_rope", C::Attention, Q::Float, "qkv_bias"},
      {"self_attn.kv_a_layernorm.weight", "kv_lora", C::Norms},
      {"self_attn.kv_b_proj.weight", "heads*(qk_nope+v_head),kv_lora", C::Attention, Q::Linear},
      {"self_attn.o_proj.weight", "hidden,heads*v_head", C::Attention, Q::Linear},
      {"self_attn.o_proj.bias", "hidden", C::Attention, Q::Float, "o_bias"},
  };
}

void derive_deepseek(const ConfigView& cv, ModelPlan& p) {
  auto& e = p.env;
  const uint64_t q_lora = cv.u64_or("q_lora_rank", 0);
  e["q_lora"] = q_lora;
  e["has_q_lora"] = q_lora > 0 ? 1 : 0;
  e["kv_lora"] = cv.require_u64("kv_lora_rank");
  e["qk_rope"] = cv.require_u64("qk_rope_head_dim");
  e["qk_nope"] = cv.require_u64("qk_nope_head_dim");
  e["v_head"] = cv.require_u64("v_head_dim");
  e["q_head"] = dim_add(cv, "qk_nope_head_dim", e["qk_nope"], e["qk_rope"]);
  // Shared experts are one MLP of n_shared_experts x moe_intermediate_size.
  const uint64_t n_shared = cv.u64_or("n_shared_experts", 0);
  e["shared_inter"] = dim_mul(cv, "n_shared_experts", n_shared, e["moe_inter"]);
  e["has_shared"] = n_shared > 0 ? 1 : 0;
  // noaux_tc routing (V3, Kimi K2) learns a per-expert score correction bias, kept in F32.
  const std::string default_topk = p.family->name == "deepseek_v2" ? "greedy" : "noaux_tc";
  e["score_bias"] = cv.get_string("topk_method").value_or(default_topk) == "noaux_tc" ? 1 : 0;
}

Family deepseek(std::string_view name, std::vector<std::string_view> types) {
  Family f = base(name, std::move(types));
  f.attn = AttnBlock::Mla;
  f.moe = MoeRule::DeepSeek;
  f.mtp = MtpStyle::DeepSeek;
  f.derive = derive_deepseek;
  f.attention = mla_attention();
  f.moe_rules = {
      {"mlp.gate.weight", "experts,hidden", C::Experts, Q::Router},
      {"mlp.gate.e_score_correction_bias", "experts", C::Experts, Q::Float, "score_bias",
       -1, DType::F32},
      {"mlp.shared_experts.gate_proj.weight", "shared_inter,hidden", C::Experts, Q::Linear,
       "has_shared"},
      {"mlp.shared_experts.up_proj.weight", "shared_inter,hidden", C::Experts, Q::Linear,
       "has_shared"},
      {"mlp.shared_experts.down_proj.weight", "hidden,shared_inter", C::Experts, Q::Linear,
       "has_shared"},
  };
  f.expert = qwen_expert();
  // The MTP module of an HF checkout (model.layers.{num_hidden_layers + j}): its own embedding
  // and head copies, two norms, and a projection of [embedding; hidden] back to hidden, which
  // FP8 checkpoints keep in BF16.
  f.mtp_extra = {
      {"embed_tokens.weight", "vocab,hidden", C::Embeddings, Q::Embedding},
      {"enorm.weight", "hidden", C::Norms},
      {"hnorm.weight", "hidden", C::Norms},
      {"eh_proj.weight", "hidden,2*hidden", C::Other, Q::LinearFloat},
      {"shared_head.norm.weight", "hidden", C::Norms},
      {"shared_head.head.weight", "vocab,hidden", C::OutputHead, Q::Head},
  };
  return f;
}

// gpt-oss: biased attention with per-head sink logits, a biased router, and experts stored fused
// ([E, in, out] in the BF16 layout; MXFP4 blocks in the published checkpoint).
void derive_gpt_oss(const ConfigView& cv, ModelPlan& p) {
  p.env["sinks"] = 1;
  if (!cv.find("attention_bias")) {
    p.env["qkv_bias"] = 1;
    p.env["o_bias"] = 1;
  }
}

Family gpt_oss() {
  Family f = base("gpt_oss", {"gpt_oss"});
  f.moe = MoeRule::All;
  f.sliding = SlidingRule::Alternate;
  f.mlx_router_bits = 8;
  f.derive = derive_gpt_oss;
  f.moe_rules = {
      {"mlp.router.weight", "experts,hidden", C::Experts, Q::Router},
      {"mlp.router.bias", "experts", C::Experts},
      {"mlp.experts.gate_up_proj", "experts,hidden,2*moe_inter", C::Experts, Q::Linear, {}, 1},
      {"mlp.experts.gate_up_proj_bias", "experts,2*moe_inter", C::Experts},
      {"mlp.experts.down_proj", "experts,moe_inter,hidden", C::Experts, Q::Linear, {}, 1},
      {"mlp.experts.down_proj_bias", "experts,hidden", C::Experts},
  };
  return f;
}

// Llama 4: fused experts [E, in, out], one shared expert, dense layers of intermediate_size_mlp
// between MoE layers (interleave_moe_layer_step), chunked attention on RoPE layers.
void derive_llama4(const ConfigView& cv, ModelPlan& p) {
  auto& e = p.env;
  e["moe_inter"] = cv.require_u64("intermediate_size");
  e["inter"] = cv.u64_or("intermediate_size_mlp", e["moe_inter"]);
  e["shared_inter"] = e["moe_inter"];
}

Family llama4() {
  Family f = base("llama4", {"llama4", "llama4_text"});
  f.moe = MoeRule::Llama4;
  f.sliding = SlidingRule::Llama4Chunked;
  f.derive = derive_llama4;
  f.multimodal_prefix = "language_model.model.";
  f.multimodal_head_name = "language_model.lm_head";
  f.dense = {
      {"feed_forward.gate_proj.weight", "inter,hidden", C::Mlp, Q::Linear},
      {"feed_forward.up_proj.weight", "inter,hidden", C::Mlp, Q::Linear},
      {"feed_forward.down_proj.weight", "hidden,inter", C::Mlp, Q::Linear},
  };
  f.moe_rules = {
      {"feed_forward.router.weight", "experts,hidden", C::Experts, Q::Router},
      {"feed_forward.experts.gate_up_proj", "experts,hidden,2*moe_inter", C::Experts, Q::Linear,
       {}, 1},
      {"feed_forward.experts.down_proj", "experts,moe_inter,hidden", C::Experts, Q::Linear, {}, 1},
      {"feed_forward.shared_expert.gate_proj.weight", "shared_inter,hidden", C::Experts, Q::Linear},
      {"feed_forward.shared_expert.up_proj.weight", "shared_inter,hidden", C::Experts, Q::Linear},
      {"feed_forward.shared_expert.down_proj.weight", "hidden,shared_inter", C::Experts, Q::Linear},
  };
  return f;
}

// granitemoe: experts fused as input_linear [E, 2*inter, hidden] / output_linear [E, hidden,
// inter] with intermediate_size per expert; router is a bare linear "router.layer".
Family granitemoe() {
  Family f = base("granitemoe", {"granitemoe"});
  f.moe = MoeRule::All;
  f.moe_rules = {
      {"block_sparse_moe.router.layer.weight", "experts,hidden", C::Experts, Q::Router},
      {"block_sparse_moe.input_linear.weight", "experts,2*moe_inter,hidden", C::Experts,
       Q::Linear},
      {"block_sparse_moe.output_linear.weight", "experts,hidden,moe_inter", C::Experts, Q::Linear},
  };
  return f;
}

// MiniMax-M2: q/k RMSNorm over the whole projection (not per head), sigmoid routing with a
// score correction bias, Mixtral-style expert names.
void derive_minimax(const ConfigView& cv, ModelPlan& p) {
  p.env["minimax_qk_norm"] = cv.bool_or("use_qk_norm", true) ? 1 : 0;
  p.env["score_bias"] = cv.bool_or("use_routing_bias", true) ? 1 : 0;
  if (cv.bool_or("use_mtp", false))
    p.warnings.push_back("MTP modules declared by the config (use_mtp) are not counted");
}

Family minimax_m2() {
  Family f = base("minimax_m2", {"minimax_m2"});
  f.moe = MoeRule::All;
  f.derive = derive_minimax;
  f.attention = {
      {"self_attn.q_proj.weight", "q_out,hidden", C::Attention, Q::Linear},
      {"self_attn.k_proj.weight", "kv_dim,hidden", C::Attention, Q::Linear},
      {"self_attn.v_proj.weight", "kv_dim,hidden", C::Attention, Q::Linear},
      {"self_attn.o_proj.weight", "hidden,q_dim", C::Attention, Q::Linear},
      {"self_attn.q_norm.weight", "q_dim", C::Norms, Q::Float, "minimax_qk_norm"},
      {"self_attn.k_norm.weight", "kv_dim", C::Norms, Q::Float, "minimax_qk_norm"},
  };
  f.moe_rules = {
      {"block_sparse_moe.gate.weight", "experts,hidden", C::Experts, Q::Router},
      {"block_sparse_moe.e_score_correction_bias", "experts", C::Experts, Q::Float, "score_bias",
       -1, DType::F32},
  };
  f.expert = {
      {"block_sparse_moe.experts.{E}.w1.weight", "moe_inter,hidden", C::Experts, Q::Linear},
      {"block_sparse_moe.experts.{E}.w2.weight", "hidden,moe_inter", C::Experts, Q::Linear},
      {"block_sparse_moe.experts.{E}.w3.weight", "moe_inter,hidden", C::Experts, Q::Linear},
  };
  return f;
}

}  // namespace

void add_moe_families(std::vector<Family>& out) {
  out.push_back(mixtral());

  Family qwen2_moe = qwen_moe("qwen2_moe", {"qwen2_moe"});
  qwen2_moe.qkv_bias = true;
  out.push_back(std::move(qwen2_moe));

  Family qwen3_moe = qwen_moe("qwen3_moe", {"qwen3_moe"});
  qwen3_moe.qk_norm = true;
  qwen3_moe.fp8_scales_float = true;
  out.push_back(std::move(qwen3_moe));

  out.push_back(deepseek("deepseek_v2", {"deepseek_v2"}));
  out.push_back(deepseek("deepseek_v3", {"deepseek_v3"}));
  out.push_back(deepseek("kimi_k2", {"kimi_k2"}));
  out.push_back(gpt_oss());
  out.push_back(llama4());
  out.push_back(granitemoe());
  out.push_back(minimax_m2());
}

}  // namespace mlxcel::arch
