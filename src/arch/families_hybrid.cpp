// Hybrid families: linear attention (Gated DeltaNet: Qwen3-Next, Qwen3.5), Mamba2 (Nemotron-H)
// and short convolutions (LFM2) interleaved with full attention. Each linear block keeps a
// constant state per sequence, computed in derive.cpp from the env names set here.
#include "arch/tables.h"
#include "mlxcel/errors.h"

namespace mlxcel::arch {
namespace {

using namespace tables;

// Gated DeltaNet dimensions: q and k have linear_num_key_heads x linear_key_head_dim, v and the
// output gate z have linear_num_value_heads x linear_value_head_dim; the causal conv runs over
// q, k and v together.
void derive_gdn(const ConfigView& cv, ModelPlan& p) {
  auto& e = p.env;
  const uint64_t k_heads = cv.require_u64("linear_num_key_heads");
  const uint64_t v_heads = cv.require_u64("linear_num_value_heads");
  const uint64_t k_dim = cv.require_u64("linear_key_head_dim");
  const uint64_t v_dim = cv.require_u64("linear_value_head_dim");
  if (v_heads % k_heads != 0)
    cv.fail("linear_num_value_heads", "must be a multiple of linear_num_key_heads (" +
                                          std::to_string(v_heads) + " vs " +
                                          std::to_string(k_heads) + ")");
  e["lin_k_heads"] = k_heads;
  e["lin_v_heads"] = v_heads;
  e["lin_k_head_dim"] = k_dim;
  e["lin_v_head_dim"] = v_dim;
  e["lin_key"] = dim_mul(cv, "linear_key_head_dim", k_heads, k_dim);
  e["lin_value"] = dim_mul(cv, "linear_value_head_dim", v_heads, v_dim);
  e["lin_conv"] = dim_add(cv, "linear_value_head_dim",
                          dim_mul(cv, "linear_key_head_dim", 2, e["lin_key"]), e["lin_value"]);
  e["lin_kernel"] = cv.require_u64("linear_conv_kernel_dim");
  // The full-attention layers' query projection also yields a sigmoid output gate.
  const bool gate = cv.bool_or("attn_output_gate", true);
  e["q_out"] = dim_mul(cv, "head_dim", e["q_dim"], gate ? 2 : 1);
  e["qk_norm"] = 1;
  e["shared_inter"] = cv.u64_or("shared_expert_intermediate_size", 0);
  e["has_shared"] = e["shared_inter"] > 0 ? 1 : 0;
}

RuleList gdn_qwen3_next() {
  return {
      {"linear_attn.in_proj_qkvz.weight", "2*lin_key+2*lin_value,hidden", C::Attention, Q::Linear},
      {"linear_attn.in_proj_ba.weight", "2*lin_v_heads,hidden", C::Attention, Q::Linear},
      {"linear_attn.conv1d.weight", "lin_conv,1,lin_kernel", C::Attention},
      {"linear_attn.dt_bias", "lin_v_heads", C::Attention},
      {"linear_attn.A_log", "lin_v_heads", C::Attention},
      {"linear_attn.norm.weight", "lin_v_head_dim", C::Norms},
      {"linear_attn.out_proj.weight", "hidden,lin_value", C::Attention, Q::Linear},
  };
}

// Qwen3.5 splits the input projections (qkv, z, b, a) and keeps A_log in F32.
RuleList gdn_qwen3_5() {
  return {
      {"linear_attn.in_proj_qkv.weight", "2*lin_key+lin_value,hidden", C::Attention, Q::Linear},
      {"linear_attn.in_proj_z.weight", "lin_value,hidden", C::Attention, Q::Linear},
      {"linear_attn.in_proj_b.weight", "lin_v_heads,hidden", C::Attention, Q::Linear},
      {"linear_attn.in_proj_a.weight", "lin_v_heads,hidden", C::Attention, Q::Linear},
      {"linear_attn.conv1d.weight", "lin_conv,1,lin_kernel", C::Attention},
      {"linear_attn.dt_bias", "lin_v_heads", C::Attention},
      {"linear_attn.A_log", "lin_v_heads", C::Attention, Q::Float, {}, -1, DType::F32},
      {"linear_attn.norm.weight", "lin_v_head_dim", C::Norms},
      {"linear_attn.out_proj.weight", "hidden,lin_value", C::Attention, Q::Linear},
  };
}

// The MTP module of Qwen3-Next / Qwen3.5 checkouts (mtp.*): a projection of [embedding; hidden],
// its norms and a final norm; its decoder layers are generated as full-attention layers.
RuleList qwen_mtp_extra() {
  return {
      {"mtp.fc.weight", "hidden,2*hidden", C::Other, Q::LinearFloat},
      {"mtp.pre_fc_norm_embedding.weight", "hidden", C::Norms},
      {"mtp.pre_fc_norm_hidden.weight", "hidden", C::Norms},
      {"mtp.norm.weight", "hidden", C::Norms},
  };
}

Family qwen_gdn(std::string_view name, std::vector<std::string_view> types) {
  Family f;
  f.name = name;
  f.model_types = std::move(types);
  f.linear = LinearBlock::GatedDeltaNet;
  f.mixer = MixerRule::FullAttentionInterval;
  f.mtp = MtpStyle::Qwen;
  f.derive = derive_gdn;
  f.fp8_scales_float = true;
  f.pre = embed_tokens();
  f.layer = two_norms();
  f.attention = gqa_attention();
  f.dense = gated_mlp();
  f.mtp_extra = qwen_mtp_extra();
  f.post = final_norm_and_head();
  return f;
}

Family qwen3_next() {
  Family f = qwen_gdn("qwen3_next", {"qwen3_next"});
  f.moe = MoeRule::QwenSparse;
  f.mlx_router_bits = 8;
  // Published checkouts carry one MTP layer although the config has no count field.
  f.mtp_default = 1;
  f.linear_rules = gdn_qwen3_next();
  f.moe_rules = qwen_moe_block();
  f.expert = qwen_expert();
  return f;
}

Family qwen3_5(bool moe) {
  Family f = moe ? qwen_gdn("qwen3_5_moe", {"qwen3_5_moe", "qwen3_5_moe_text"})
                 : qwen_gdn("qwen3_5", {"qwen3_5", "qwen3_5_text"});
  f.multimodal_prefix = "model.language_model.";
  f.multimodal_head_name = "lm_head";
  f.linear_rules = gdn_qwen3_5();
  if (moe) {
    f.moe = MoeRule::QwenSparse;
    f.mlx_router_bits = 8;
    f.needs_intermediate = false;
    // Experts are stored fused ([E, 2*moe_inter, hidden] and [E, hidden, moe_inter]).
    f.moe_rules = qwen_moe_block();
    f.moe_rules.push_back({"mlp.experts.gate_up_proj", "experts,2*moe_inter,hidden", C::Experts,
                           Q::Linear});
    f.moe_rules.push_back(
        {"mlp.experts.down_proj", "experts,hidden,moe_inter", C::Experts, Q::Linear});
  }
  return f;
}

// Nemotron-H: Mamba2 mixer width is mamba_num_heads x mamba_head_dim; B and C come in n_groups
// groups of ssm_state_size; in_proj yields gate, conv input (x, B, C) and dt.
void derive_nemotron_h(const ConfigView& cv, ModelPlan& p) {
  auto& e = p.env;
  const uint64_t m_heads = cv.require_u64("mamba_num_heads");
  const uint64_t m_head_dim = cv.require_u64("mamba_head_dim");
  const uint64_t groups = cv.require_u64("n_groups");
  const uint64_t state = cv.require_u64("ssm_state_size");
  e["m_heads"] = m_heads;
  e["m_head_dim"] = m_head_dim;
  e["m_state"] = state;
  e["m_inter"] = dim_mul(cv, "mamba_head_dim", m_heads, m_head_dim);
  const uint64_t bc = dim_mul(cv, "ssm_state_size", dim_mul(cv, "n_groups", 2, groups), state);
  e["m_conv"] = dim_add(cv, "ssm_state_size", e["m_inter"], bc);
  e["m_in_out"] = dim_add(cv, "mamba_num_heads", dim_add(cv, "ssm_state_size", e["m_inter"],
                                                          e["m_conv"]), m_heads);
  e["m_kernel"] = cv.require_u64("conv_kernel");
  e["m_conv_bias"] = cv.bool_or("use_conv_bias", true) ? 1 : 0;
  e["m_proj_bias"] = cv.bool_or("mamba_proj_bias", false) ? 1 : 0;
  e["mlp_bias"] = cv.bool_or("mlp_bias", false) ? 1 : 0;
  const uint64_t latent = cv.u64_or("moe_latent_size", 0);
  e["moe_latent"] = latent > 0 ? 1 : 0;
  e["latent"] = latent;
  e["e_in"] = latent > 0 ? latent : e["hidden"];
  e["shared_inter"] = cv.u64_or("shared_expert_intermediate_size", 0);
  e["has_shared"] = (cv.u64_or("n_shared_experts", 0) > 0 && e["shared_inter"] > 0) ? 1 : 0;
}

Family nemotron_h() {
  Family f;
  f.name = "nemotron_h";
  f.model_types = {"nemotron_h"};
  f.linear = LinearBlock::Mamba2;
  f.mixer = MixerRule::HybridPattern;
  f.moe = MoeRule::Pattern;
  f.needs_intermediate = false;
  f.model_prefix = "backbone.";
  f.derive = derive_nemotron_h;
  f.pre = {{"{m}embeddings.weight", "vocab,hidden", C::Embeddings, Q::Embedding}};
  f.layer = {{"norm.weight", "hidden", C::Norms}};
  f.attention = {
      {"mixer.q_proj.weight", "q_dim,hidden", C::Attention, Q::Linear},
      {"mixer.q_proj.bias", "q_dim", C::Attention, Q::Float, "qkv_bias"},
      {"mixer.k_proj.weight", "kv_dim,hidden", C::Attention, Q::Linear},
      {"mixer.k_proj.bias", "kv_dim", C::Attention, Q::Float, "qkv_bias"},
      {"mixer.v_proj.weight", "kv_dim,hidden", C::Attention, Q::Linear},
      {"mixer.v_proj.bias", "kv_dim", C::Attention, Q::Float, "qkv_bias"},
      {"mixer.o_proj.weight", "hidden,q_dim", C::Attention, Q::Linear},
      {"mixer.o_proj.bias", "hidden", C::Attention, Q::Float, "o_bias"},
  };
  f.linear_rules = {
      {"mixer.in_proj.weight", "m_in_out,hidden", C::Attention, Q::Linear},
      {"mixer.in_proj.bias", "m_in_out", C::Attention, Q::Float, "m_proj_bias"},
      {"mixer.conv1d.weight", "m_conv,1,m_kernel", C::Attention},
      {"mixer.conv1d.bias", "m_conv", C::Attention, Q::Float, "m_conv_bias"},
      {"mixer.dt_bias", "m_heads", C::Attention},
      {"mixer.A_log", "m_heads", C::Attention, Q::Float, {}, -1, DType::F32},
      {"mixer.D", "m_heads", C::Attention},
      {"mixer.norm.weight", "m_inter", C::Norms},
      {"mixer.out_proj.weight", "hidden,m_inter", C::Attention, Q::Linear},
      {"mixer.out_proj.bias", "hidden", C::Attention, Q::Float, "m_proj_bias"},
  };
  // "-" layers: a squared-ReLU MLP with up/down only.
  f.dense = {
      {"mixer.up_proj.weight", "inter,hidden", C::Mlp, Q::Linear},
      {"mixer.up_proj.bias", "inter", C::Mlp, Q::Float, "mlp_bias"},
      {"mixer.down_proj.weight", "hidden,inter", C::Mlp, Q::Linear},
      {"mixer.down_proj.bias", "hidden", C::Mlp, Q::Float, "mlp_bias"},
  };
  f.moe_rules = {
      {"mixer.gate.weight", "experts,hidden", C::Experts, Q::Router},
      {"mixer.gate.e_score_correction_bias", "experts", C::Experts, Q::Float, {}, -1, DType::F32},
      {"mixer.fc1_latent_proj.weight", "latent,hidden", C::Experts, Q::Linear, "moe_latent"},
      {"mixer.fc2_latent_proj.weight", "hidden,latent", C::Experts, Q::Linear, "moe_latent"},
      {"mixer.shared_experts.up_proj.weight", "shared_inter,hidden", C::Experts, Q::Linear,
       "has_shared"},
      {"mixer.shared_experts.down_proj.weight", "hidden,shared_inter", C::Experts, Q::Linear,
       "has_shared"},
  };
  f.expert = {
      {"mixer.experts.{E}.up_proj.weight", "moe_inter,e_in", C::Experts, Q::Linear},
      {"mixer.experts.{E}.down_proj.weight", "e_in,moe_inter", C::Experts, Q::Linear},
  };
  f.post = {{"{m}norm_f.weight", "hidden", C::Norms},
            {"{head}.weight", "vocab,hidden", C::OutputHead, Q::Head, "!tie"}};
  return f;
}

// LFM2: the SwiGLU width is derived from block_ff_dim (2/3, multiplier, rounded up to
// block_multiple_of) when block_auto_adjust_ff_dim; short-conv layers gate a depthwise conv of
// kernel conv_L_cache.
void derive_lfm2(const ConfigView& cv, ModelPlan& p) {
  auto& e = p.env;
  auto block_ff = cv.get_u64("block_ff_dim");
  uint64_t ff = block_ff ? *block_ff : cv.require_u64("intermediate_size");
  if (cv.bool_or("block_auto_adjust_ff_dim", false)) {
    ff = dim_mul(cv, "block_ff_dim", 2, ff) / 3;
    if (auto mult = cv.get_double("block_ffn_dim_multiplier")) {
      const double scaled = *mult * static_cast<double>(ff);
      // Converting a negative, NaN or too large double to an integer is undefined.
      if (!(scaled >= 0) || scaled >= 9007199254740992.0)  // 2^53
        cv.fail("block_ffn_dim_multiplier", "scales block_ff_dim out of range");
      ff = static_cast<uint64_t>(scaled);
    }
    const uint64_t multiple = cv.u64_or("block_multiple_of", 256);
    if (multiple == 0) cv.fail("block_multiple_of", "must be greater than 0");
    ff = dim_mul(cv, "block_multiple_of", multiple,
                 dim_add(cv, "block_multiple_of", ff, multiple - 1) / multiple);
  }
  e["inter"] = ff;
  e["conv_dim"] = cv.u64_or("conv_dim", e["hidden"]);
  e["conv_L"] = cv.require_u64("conv_L_cache");
  e["conv_bias"] = cv.bool_or("conv_bias", false) ? 1 : 0;
}

Family lfm2() {
  Family f;
  f.name = "lfm2";
  f.model_types = {"lfm2"};
  f.linear = LinearBlock::ShortConv;
  f.mixer = MixerRule::Lfm2;
  f.tie_default = true;
  f.needs_intermediate = false;
  f.derive = derive_lfm2;
  f.pre = embed_tokens();
  f.layer = {{"operator_norm.weight", "hidden", C::Norms}, {"ffn_norm.weight", "hidden", C::Norms}};
  f.attention = {
      {"self_attn.q_proj.weight", "q_dim,hidden", C::Attention, Q::Linear},
      {"self_attn.k_proj.weight", "kv_dim,hidden", C::Attention, Q::Linear},
      {"self_attn.v_proj.weight", "kv_dim,hidden", C::Attention, Q::Linear},
      {"self_attn.out_proj.weight", "hidden,q_dim", C::Attention, Q::Linear},
      {"self_attn.q_layernorm.weight", "head_dim", C::Norms},
      {"self_attn.k_layernorm.weight", "head_dim", C::Norms},
  };
  f.linear_rules = {
      {"conv.in_proj.weight", "3*conv_dim,hidden", C::Attention, Q::Linear},
      {"conv.in_proj.bias", "3*conv_dim", C::Attention, Q::Float, "conv_bias"},
      {"conv.conv.weight", "conv_dim,1,conv_L", C::Attention},
      {"conv.conv.bias", "conv_dim", C::Attention, Q::Float, "conv_bias"},
      {"conv.out_proj.weight", "hidden,conv_dim", C::Attention, Q::Linear},
      {"conv.out_proj.bias", "hidden", C::Attention, Q::Float, "conv_bias"},
  };
  f.dense = {
      {"feed_forward.w1.weight", "inter,hidden", C::Mlp, Q::Linear},
      {"feed_forward.w3.weight", "inter,hidden", C::Mlp, Q::Linear},
      {"feed_forward.w2.weight", "hidden,inter", C::Mlp, Q::Linear},
  };
  f.post = {{"{m}embedding_norm.weight", "hidden", C::Norms},
            {"{head}.weight", "vocab,hidden", C::OutputHead, Q::Head, "!tie"}};
  return f;
}

}  // namespace

void add_hybrid_families(std::vector<Family>& out) {
  out.push_back(qwen3_next());
  out.push_back(qwen3_5(false));
  out.push_back(qwen3_5(true));
  out.push_back(nemotron_h());
  out.push_back(lfm2());
}

}  // namespace mlxcel::arch
