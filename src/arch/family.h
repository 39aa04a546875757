// Data model of the registry: a family is its accepted model_type spellings, traits saying how
// layers are laid out (which layers attend, slide, are MoE, are linear/SSM), and tensor tables.
// A tensor rule names an HF tensor, gives its shape as expressions over derived dimensions, the
// component it counts toward and how quantizers treat it. Llama-like families are entries made
// of shared tables; genuinely new blocks (MLA, Gated DeltaNet, Mamba2, short conv) have their own
// tables and a derive hook computing their dimensions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arch/config_view.h"
#include "mlxcel/model_spec.h"

namespace mlxcel::arch {

// How quantizers treat a tensor. MLX quantizes every module with to_quantized (Linear,
// Embedding, including routers and lm_head) whose input dim divides by the group size; FP8 /
// GPTQ / AWQ / MXFP4 checkpoints quantize decoder Linear layers only.
enum class QClass : uint8_t {
  Linear,       // a decoder nn.Linear weight
  LinearFloat,  // a Linear that FP8/GPTQ checkpoints keep in float (DeepSeek MTP eh_proj)
  Router,       // MoE router / shared-expert gate (float in FP8/GPTQ checkpoints)
  Embedding,
  Head,         // lm_head
  Float,        // never quantized: norms, biases, conv kernels, A_log, sinks
};

struct TensorRule {
  std::string_view name;   // {m}: model prefix ("model."); {E}: expert index. Layer rules are
                           // relative to the layer prefix ("model.layers.3.").
  std::string_view shape;  // comma-separated expressions over the env, e.g. "heads*head_dim,hidden"
  Component comp = Component::Other;
  QClass q = QClass::Float;
  std::string_view when = {};     // conjunction of env flags, "!" negates: "qkv_bias&!tie"
  int8_t in_axis = -1;            // axis of input features (quantization groups); -1 = last
  std::optional<DType> dtype = {};  // fixed storage dtype (e.g. F32 routing bias)
};
using RuleList = std::vector<TensorRule>;

// Integer dimensions and 0/1 flags derived from the config; rules read them by name.
using Env = std::map<std::string, uint64_t, std::less<>>;

enum class MixerRule : uint8_t {
  AllAttention,
  FullAttentionInterval,  // Qwen3-Next / Qwen3.5: layer_types or every Nth layer attends
  Lfm2,                   // layer_types (conv / full_attention) or full_attn_idxs
  HybridPattern,          // Nemotron-H hybrid_override_pattern: M mamba2, * attention, - MLP, E MoE
};
enum class MoeRule : uint8_t {
  Dense,       // no experts
  All,         // every layer MoE (Mixtral, gpt-oss, granitemoe, MiniMax)
  QwenSparse,  // mlp_only_layers / decoder_sparse_step
  DeepSeek,    // first_k_dense_replace / moe_layer_freq
  Llama4,      // moe_layers or interleave_moe_layer_step
  Pattern,     // from the hybrid pattern
};
enum class SlidingRule : uint8_t {
  None,
  AllLayers,     // Mistral v0.1, Mixtral, Phi-3: sliding_window applies to every layer
  Qwen,          // use_sliding_window: layers >= max_window_layers slide
  Gemma2,        // even layers slide
  Gemma3,        // every sliding_window_pattern-th layer is global
  Alternate,     // gpt-oss without layer_types: even layers slide
  Llama4Chunked, // RoPE layers use chunked attention (attention_chunk_size); NoPE layers full
};
enum class AttnBlock : uint8_t { None, Gqa, Mla };
enum class LinearBlock : uint8_t { None, GatedDeltaNet, Mamba2, ShortConv };
enum class MtpStyle : uint8_t {
  None,
  DeepSeek,  // model.layers.{num_hidden_layers + j}: a decoder layer + enorm/hnorm/eh_proj/...
  Qwen,      // mtp.layers.{j} + mtp.fc / pre_fc_norm_* / norm
};

enum class MixerKind : uint8_t { Attention, Linear, None };
enum class FfnKind : uint8_t { Dense, Moe, None };

struct LayerPlan {
  MixerKind mixer = MixerKind::Attention;
  FfnKind ffn = FfnKind::Dense;
  LayerCache cache;
};

struct Family;

// Everything derived from a config before tensors are listed.
struct ModelPlan {
  const Family* family = nullptr;
  std::string model_type;
  Env env;
  std::vector<LayerPlan> layers;
  uint64_t mtp_layers = 0;     // MTP decoder layers present in an HF checkout
  bool multimodal = false;     // nested text_config (prefix and vision warnings)
  std::string model_prefix = "model.";
  std::vector<std::string> warnings;
};

using DeriveFn = void (*)(const ConfigView& cv, ModelPlan& plan);

struct Family {
  std::string_view name;
  std::vector<std::string_view> model_types;
  AttnBlock attn = AttnBlock::Gqa;
  LinearBlock linear = LinearBlock::None;
  MixerRule mixer = MixerRule::AllAttention;
  MoeRule moe = MoeRule::Dense;
  SlidingRule sliding = SlidingRule::None;
  MtpStyle mtp = MtpStyle::None;
  uint64_t mtp_default = 0;    // MTP layers when the config has no count field
  bool tie_default = false;
  bool needs_intermediate = true;  // dense MLP width is a required field
  bool qkv_bias = false;           // q/k/v biases whatever attention_bias says (Qwen2)
  bool qk_norm = false;            // per-head q/k RMSNorm weights (Qwen3, Gemma 3)
  bool fp8_scales_float = false;   // FP8 block scales stored in the model dtype (Qwen), else F32
  uint32_t mlx_router_bits = 0;    // mlx-lm quant_predicate: routers at 8 bits when converting
  // src/runtime implements this family's forward pass (the Llama block with optional q/k/v bias,
  // per-head q/k RMSNorm and sliding windows). Other families differ in ways their tensors do
  // not show (Gemma's (1 + w) norms and scaled embeddings...), so the loader refuses them.
  bool runnable = false;
  std::string_view model_prefix = "model.";  // {m}
  std::string_view layers_name = "layers";    // layer prefix is {m}<layers_name>.<i>.
  std::string_view multimodal_prefix = {};  // text-model prefix inside a multimodal checkpoint
  std::string_view head_name = "lm_head";
  std::string_view multimodal_head_name = {};
  DeriveFn derive = nullptr;       // family dims beyond the common ones (new blocks)
  RuleList pre;        // before the layers (embeddings)
  RuleList layer;      // every decoder layer (norms)
  RuleList attention;  // attention layers
  RuleList linear_rules;  // linear-attention / SSM / short-conv layers
  RuleList dense;      // dense MLP layers
  RuleList moe_rules;  // per MoE layer: router, shared experts, fused experts
  RuleList expert;     // per routed expert, {E}
  RuleList mtp_extra;  // per MTP layer (DeepSeek: relative to its layer prefix; Qwen: global)
  RuleList post;       // after the layers (final norm, lm_head)
};

const std::vector<Family>& families();
// nullptr when no family accepts the spelling.
const Family* find_family(std::string_view model_type);

// Fills plan.env, plan.layers, mtp count and warnings from the normalized config; throws
// ConfigError / UnsupportedArchitecture.
ModelPlan derive_plan(const nlohmann::json& config, const std::string& config_name);

// Overflow-checked dimension arithmetic for derive hooks: ConfigError naming the config and
// `field` when the result does not fit 64 bits.
uint64_t dim_mul(const ConfigView& cv, std::string_view field, uint64_t a, uint64_t b);
uint64_t dim_add(const ConfigView& cv, std::string_view field, uint64_t a, uint64_t b);

// Expressions: integers, env names, + - * / and parentheses. Throws std::logic_error on an
// unknown name (a table bug, not bad input) and ConfigError on overflow or division by zero.
uint64_t eval_expr(std::string_view expr, const Env& env, const std::string& config_name);
std::vector<uint64_t> eval_shape(std::string_view shape, const Env& env,
                                 const std::string& config_name);
bool eval_when(std::string_view when, const Env& env);

// Family tables, defined per block group.
void add_dense_families(std::vector<Family>& out);
void add_moe_families(std::vector<Family>& out);
void add_hybrid_families(std::vector<Family>& out);

}  // namespace mlxcel::arch
