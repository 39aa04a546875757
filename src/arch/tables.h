// Tensor tables shared by several families (Llama-style blocks). Shapes follow the HF modeling
// files: nn.Linear weights are [out, in]; env names are set by derive_plan (see derive.cpp).
#pragma once

#include "arch/family.h"

namespace mlxcel::arch::tables {

using C = Component;
using Q = QClass;

inline RuleList embed_tokens() {
  return {{"{m}embed_tokens.weight", "vocab,hidden", C::Embeddings, Q::Embedding}};
}

inline RuleList final_norm_and_head() {
  return {{"{m}norm.weight", "hidden", C::Norms},
          {"{head}.weight", "vocab,hidden", C::OutputHead, Q::Head, "!tie"}};
}

// Pre-attention and pre-MLP RMSNorm of a Llama-style decoder layer.
inline RuleList two_norms() {
  return {{"input_layernorm.weight", "hidden", C::Norms},
          {"post_attention_layernorm.weight", "hidden", C::Norms}};
}

// Gemma 2/3 sandwich norms: also before and after the feed-forward block.
inline RuleList four_norms() {
  return {{"input_layernorm.weight", "hidden", C::Norms},
          {"post_attention_layernorm.weight", "hidden", C::Norms},
          {"pre_feedforward_layernorm.weight", "hidden", C::Norms},
          {"post_feedforward_layernorm.weight", "hidden", C::Norms}};
}

// GQA attention. q_out is heads*head_dim, doubled when the query projection also yields an
// output gate (Qwen3-Next / Qwen3.5); q_dim is what o_proj reads.
inline RuleList gqa_attention() {
  return {
      {"self_attn.q_proj.weight", "q_out,hidden", C::Attention, Q::Linear},
      {"self_attn.q_proj.bias", "q_out", C::Attention, Q::Float, "qkv_bias"},
      {"self_attn.k_proj.weight", "kv_dim,hidden", C::Attention, Q::Linear},
      {"self_attn.k_proj.bias", "kv_dim", C::Attention, Q::Float, "qkv_bias"},
      {"self_attn.v_proj.weight", "kv_dim,hidden", C::Attention, Q::Linear},
      {"self_attn.v_proj.bias", "kv_dim", C::Attention, Q::Float, "qkv_bias"},
      {"self_attn.o_proj.weight", "hidden,q_dim", C::Attention, Q::Linear},
      {"self_attn.o_proj.bias", "hidden", C::Attention, Q::Float, "o_bias"},
      {"self_attn.q_norm.weight", "head_dim", C::Norms, Q::Float, "qk_norm"},
      {"self_attn.k_norm.weight", "head_dim", C::Norms, Q::Float, "qk_norm"},
      {"self_attn.sinks", "heads", C::Attention, Q::Float, "sinks"},
  };
}

// SwiGLU MLP with gate/up/down projections of width `inter`.
inline RuleList gated_mlp() {
  return {
      {"mlp.gate_proj.weight", "inter,hidden", C::Mlp, Q::Linear},
      {"mlp.gate_proj.bias", "inter", C::Mlp, Q::Float, "mlp_bias"},
      {"mlp.up_proj.weight", "inter,hidden", C::Mlp, Q::Linear},
      {"mlp.up_proj.bias", "inter", C::Mlp, Q::Float, "mlp_bias"},
      {"mlp.down_proj.weight", "hidden,inter", C::Mlp, Q::Linear},
      {"mlp.down_proj.bias", "hidden", C::Mlp, Q::Float, "mlp_bias"},
  };
}

// One routed expert of Qwen/DeepSeek-style MoE blocks (per-expert tensors, as in HF checkpoints).
inline RuleList qwen_expert() {
  return {
      {"mlp.experts.{E}.gate_proj.weight", "moe_inter,hidden", C::Experts, Q::Linear},
      {"mlp.experts.{E}.up_proj.weight", "moe_inter,hidden", C::Experts, Q::Linear},
      {"mlp.experts.{E}.down_proj.weight", "hidden,moe_inter", C::Experts, Q::Linear},
  };
}

// Qwen MoE block: router, optional shared expert with its sigmoid gate. Routers and shared
// experts count toward "experts".
inline RuleList qwen_moe_block() {
  return {
      {"mlp.gate.weight", "experts,hidden", C::Experts, Q::Router},
      {"mlp.shared_expert.gate_proj.weight", "shared_inter,hidden", C::Experts, Q::Linear,
       "has_shared"},
      {"mlp.shared_expert.up_proj.weight", "shared_inter,hidden", C::Experts, Q::Linear,
       "has_shared"},
      {"mlp.shared_expert.down_proj.weight", "hidden,shared_inter", C::Experts, Q::Linear,
       "has_shared"},
      {"mlp.shared_expert_gate.weight", "1,hidden", C::Experts, Q::Router, "has_shared"},
  };
}

}  // namespace mlxcel::arch::tables
