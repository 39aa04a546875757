// From a normalized config to a ModelPlan: common dimensions through the alias table, family
// hooks for new blocks, then per layer which mixer (attention / linear / none) and which
// feed-forward (dense / MoE / none) it has and what it caches.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "arch/family.h"
#include "arch/limits.h"
#include "arch/registry.h"
#include "core/checked.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace arch {
namespace {

// Flags every table may test; families and configs turn them on.
constexpr std::string_view kFlags[] = {
    "tie",      "qkv_bias",   "o_bias",      "mlp_bias",  "qk_norm",    "sinks",
    "has_shared", "score_bias", "has_q_lora", "bias",     "ln_pair",    "ln_single",
    "post_ln",  "minimax_qk_norm", "m_proj_bias", "m_conv_bias", "moe_latent", "conv_bias",
};

// ConfigError when a count or width is past its plausibility bound (arch/limits.h); `what` names
// the unit ("layers", "experts").
void check_bound(const ConfigView& cv, std::string_view canonical, uint64_t value, uint64_t max,
                 std::string_view what) {
  if (value <= max) return;
  std::string field = cv.spelling(canonical);
  if (field.empty()) field = std::string(canonical);
  throw ConfigError("arch", fmt::format("implausible {}: {} is more than the {} {} any real model "
                                        "comes near ({}, {}, {})",
                                        field, value, max, what, cv.name(), field, value));
}

void derive_common(const ConfigView& cv, const Family& f, ModelPlan& p, uint64_t num_layers) {
  auto& e = p.env;
  for (auto flag : kFlags) e[std::string(flag)] = 0;
  e["layers"] = num_layers;
  e["hidden"] = cv.require_u64("hidden_size");
  check_bound(cv, "hidden_size", e["hidden"], kMaxWidth, "elements");
  e["vocab"] = cv.require_u64("vocab_size");
  check_bound(cv, "vocab_size", e["vocab"], kMaxWidth, "tokens");
  const uint64_t heads = cv.require_u64("num_attention_heads");
  check_bound(cv, "num_attention_heads", heads, kMaxHeads, "heads");
  const uint64_t kv = cv.u64_or("num_key_value_heads", heads);
  if (kv == 0 || heads % kv != 0)
    cv.fail(cv.spelling("num_key_value_heads"),
            "must divide num_attention_heads (" + std::to_string(heads) + "), got " +
                std::to_string(kv));
  uint64_t head_dim = cv.u64_or("head_dim", 0);
  check_bound(cv, "head_dim", head_dim, kMaxHeadDim, "elements");
  if (head_dim == 0) {
    if (e["hidden"] % heads != 0)
      cv.fail("head_dim", "absent and hidden_size is not a multiple of num_attention_heads");
    head_dim = e["hidden"] / heads;
  }
  e["heads"] = heads;
  e["kv_heads"] = kv;
  e["head_dim"] = head_dim;
  e["q_dim"] = dim_mul(cv, "head_dim", heads, head_dim);
  e["q_out"] = e["q_dim"];
  e["kv_dim"] = dim_mul(cv, "head_dim", kv, head_dim);
  e["inter"] = f.needs_intermediate ? cv.require_u64("intermediate_size")
                                    : cv.u64_or("intermediate_size", 0);
  check_bound(cv, "intermediate_size", e["inter"], kMaxWidth, "elements");
  e["experts"] = cv.u64_or("num_experts", 0);
  check_bound(cv, "num_experts", e["experts"], kMaxExperts, "experts per layer");
  e["top_k"] = cv.u64_or("num_experts_per_tok", 0);
  e["moe_inter"] = cv.u64_or("moe_intermediate_size", e["inter"]);
  check_bound(cv, "moe_intermediate_size", e["moe_inter"], kMaxWidth, "elements");
  e["shared_inter"] = cv.u64_or("shared_expert_intermediate_size", 0);
  check_bound(cv, "shared_expert_intermediate_size", e["shared_inter"], kMaxWidth, "elements");
  e["has_shared"] = e["shared_inter"] > 0 ? 1 : 0;
  e["tie"] = cv.bool_or("tie_word_embeddings", f.tie_default) ? 1 : 0;
  const bool attn_bias = cv.bool_or("attention_bias", false);
  e["qkv_bias"] = (f.qkv_bias || attn_bias) ? 1 : 0;
  e["o_bias"] = attn_bias ? 1 : 0;
  e["mlp_bias"] = cv.bool_or("mlp_bias", false) ? 1 : 0;
  e["qk_norm"] = f.qk_norm ? 1 : 0;
  e["max_pos"] = cv.u64_or("max_position_embeddings", 0);
}

// Nemotron-H: "M" mamba2, "*" attention, "-" MLP, "E" MoE; one block per layer.
std::string hybrid_pattern(const ConfigView& cv) {
  if (auto s = cv.get_string("hybrid_override_pattern")) return *s;
  if (auto list = cv.get_string_list("layers_block_type")) {
    std::string out;
    for (const auto& t : *list) {
      if (t == "mamba") out += 'M';
      else if (t == "attention") out += '*';
      else if (t == "mlp") out += '-';
      else if (t == "moe") out += 'E';
      else cv.fail("layers_block_type", "unknown block type '" + t + "'");
    }
    return out;
  }
  throw ConfigError("arch", "missing required field (" + cv.name() +
                                ", hybrid_override_pattern/layers_block_type)");
}

void plan_mixers(const ConfigView& cv, const Family& f, ModelPlan& p,
                 const std::optional<std::vector<std::string>>& types) {
  const uint64_t n = p.layers.size();
  switch (f.mixer) {
    case MixerRule::AllAttention:
      break;
    case MixerRule::FullAttentionInterval: {
      if (types) {
        for (uint64_t i = 0; i < n; ++i) {
          const auto& t = (*types)[i];
          if (t == "linear_attention") p.layers[i].mixer = MixerKind::Linear;
          else if (t != "full_attention" && t != "attention")
            cv.fail("layer_types", "unknown layer type '" + t + "'");
        }
        break;
      }
      const uint64_t every = cv.u64_or("full_attention_interval", 4);
      if (every == 0) cv.fail("full_attention_interval", "must be greater than 0");
      for (uint64_t i = 0; i < n; ++i)
        if ((i + 1) % every != 0) p.layers[i].mixer = MixerKind::Linear;
      break;
    }
    case MixerRule::Lfm2: {
      if (types) {
        for (uint64_t i = 0; i < n; ++i) {
          const auto& t = (*types)[i];
          if (t == "conv" || t == "short_conv") p.layers[i].mixer = MixerKind::Linear;
          else if (t != "full_attention" && t != "attention")
            cv.fail("layer_types", "unknown layer type '" + t + "'");
        }
        break;
      }
      if (!cv.find("full_attn_idxs"))
        throw ConfigError("arch", "missing required field (" + cv.name() +
                                      ", layer_types/full_attn_idxs)");
      std::set<uint64_t> attn;
      for (uint64_t idx : cv.get_u64_list("full_attn_idxs")) {
        if (idx >= n)
          cv.fail("full_attn_idxs", "layer " + std::to_string(idx) + " beyond num_hidden_layers " +
                                        std::to_string(n));
        attn.insert(idx);
      }
      for (uint64_t i = 0; i < n; ++i)
        if (!attn.count(i)) p.layers[i].mixer = MixerKind::Linear;
      break;
    }
    case MixerRule::HybridPattern: {
      const std::string pattern = hybrid_pattern(cv);
      for (uint64_t i = 0; i < n; ++i) {
        auto& l = p.layers[i];
        switch (pattern[i]) {
          case 'M': l.mixer = MixerKind::Linear; l.ffn = FfnKind::None; break;
          case '*': l.mixer = MixerKind::Attention; l.ffn = FfnKind::None; break;
          case '-': l.mixer = MixerKind::None; l.ffn = FfnKind::Dense; break;
          case 'E': l.mixer = MixerKind::None; l.ffn = FfnKind::Moe; break;
          default:
            cv.fail("hybrid_override_pattern",
                    std::string("unknown block '") + pattern[i] + "' (expected M, *, - or E)");
        }
      }
      break;
    }
  }
}

void plan_ffn(const ConfigView& cv, const Family& f, ModelPlan& p) {
  const uint64_t n = p.layers.size();
  const uint64_t experts = p.env["experts"];
  switch (f.moe) {
    case MoeRule::Dense:
    case MoeRule::Pattern:
      return;
    case MoeRule::All:
      for (auto& l : p.layers) l.ffn = FfnKind::Moe;
      return;
    case MoeRule::QwenSparse: {
      if (experts == 0) return;
      const auto only = cv.get_u64_list("mlp_only_layers");
      const std::set<uint64_t> dense(only.begin(), only.end());
      const uint64_t step = cv.u64_or("decoder_sparse_step", 1);
      if (step == 0) cv.fail("decoder_sparse_step", "must be greater than 0");
      for (uint64_t i = 0; i < n; ++i)
        if (!dense.count(i) && (i + 1) % step == 0) p.layers[i].ffn = FfnKind::Moe;
      return;
    }
    case MoeRule::DeepSeek: {
      const uint64_t first_dense = cv.u64_or("first_k_dense_replace", 0);
      const uint64_t freq = cv.u64_or("moe_layer_freq", 1);
      if (freq == 0) cv.fail("moe_layer_freq", "must be greater than 0");
      for (uint64_t i = 0; i < n; ++i)
        if (i >= first_dense && i % freq == 0) p.layers[i].ffn = FfnKind::Moe;
      return;
    }
    case MoeRule::Llama4: {
      if (cv.find("moe_layers")) {
        for (uint64_t idx : cv.get_u64_list("moe_layers")) {
          if (idx >= n) cv.fail("moe_layers", "layer " + std::to_string(idx) + " out of range");
          p.layers[idx].ffn = FfnKind::Moe;
        }
        return;
      }
      const uint64_t step = cv.u64_or("interleave_moe_layer_step", 1);
      if (step == 0) cv.fail("interleave_moe_layer_step", "must be greater than 0");
      for (uint64_t i = 0; i < n; ++i)
        if ((i + 1) % step == 0) p.layers[i].ffn = FfnKind::Moe;
      return;
    }
  }
}

// Window of layer i when it is an attention layer (0: full attention).
uint64_t sliding_window_of(const ConfigView& cv, const Family& f, const ModelPlan& p, uint64_t i,
                           const std::optional<std::vector<std::string>>& types) {
  const auto window = cv.get_u64("sliding_window");
  auto need_window = [&](uint64_t fallback) -> uint64_t {
    if (window && *window > 0) return *window;
    if (fallback) return fallback;
    throw ConfigError("arch", "missing required field (" + cv.name() +
                                  ", sliding_window) for sliding-attention layers");
  };
  if (types && f.mixer == MixerRule::AllAttention) {
    const auto& t = (*types)[i];
    if (t == "full_attention" || t == "attention") return 0;
    if (t == "sliding_attention") return need_window(0);
    if (t == "chunked_attention") return cv.require_u64("attention_chunk_size");
    cv.fail("layer_types", "unknown layer type '" + t + "'");
  }
  switch (f.sliding) {
    case SlidingRule::None:
      return 0;
    case SlidingRule::AllLayers:
      return window.value_or(0);
    case SlidingRule::Qwen:
      if (!cv.bool_or("use_sliding_window", false) || !window) return 0;
      return i >= cv.u64_or("max_window_layers", 0) ? *window : 0;
    case SlidingRule::Gemma2:
      return i % 2 == 0 ? need_window(4096) : 0;  // HF Gemma2Config default window
    case SlidingRule::Gemma3: {
      const uint64_t every = cv.u64_or("sliding_window_pattern", 6);
      if (every == 0) cv.fail("sliding_window_pattern", "must be greater than 0");
      return (i + 1) % every != 0 ? need_window(4096) : 0;
    }
    case SlidingRule::Alternate:
      return i % 2 == 0 ? need_window(128) : 0;  // gpt-oss default window
    case SlidingRule::Llama4Chunked: {
      const auto chunk = cv.get_u64("attention_chunk_size");
      if (!chunk || *chunk == 0) return 0;
      const auto nope = cv.get_u64_list("no_rope_layers");
      if (!nope.empty()) {
        if (nope.size() != p.layers.size())
          cv.fail("no_rope_layers", "has " + std::to_string(nope.size()) + " entries, expected " +
                                        std::to_string(p.layers.size()));
        return nope[i] != 0 ? *chunk : 0;  // 1 = uses RoPE = chunked; 0 = NoPE = global
      }
      const uint64_t every = cv.u64_or("no_rope_layer_interval", 4);
      if (every == 0) cv.fail("no_rope_layer_interval", "must be greater than 0");
      return (i + 1) % every != 0 ? *chunk : 0;
    }
  }
  return 0;
}

uint64_t linear_state_elems(const Family& f, const ModelPlan& p, const ConfigView& cv) {
  const auto& e = p.env;
  auto get = [&](const char* k) { return e.at(k); };
  auto kernel_keep = [&](uint64_t k, std::string_view field) {
    if (k == 0) cv.fail(field, "conv kernel must be greater than 0");
    return k - 1;  // a causal conv needs the previous kernel-1 inputs
  };
  std::optional<uint64_t> conv, rec;
  switch (f.linear) {
    case LinearBlock::GatedDeltaNet:
      // conv over q,k,v + recurrent state of v_heads x k_head_dim x v_head_dim
      conv = checked_mul(get("lin_conv"), kernel_keep(get("lin_kernel"), "linear_conv_kernel_dim"));
      rec = checked_mul(get("lin_v_heads"), get("lin_k_head_dim"));
      if (rec) rec = checked_mul(*rec, get("lin_v_head_dim"));
      break;
    case LinearBlock::Mamba2:
      // conv over x,B,C + SSM state of heads x head_dim x state_size
      conv = checked_mul(get("m_conv"), kernel_keep(get("m_kernel"), "conv_kernel"));
      rec = checked_mul(get("m_heads"), get("m_head_dim"));
      if (rec) rec = checked_mul(*rec, get("m_state"));
      break;
    case LinearBlock::ShortConv:
      conv = checked_mul(get("conv_dim"), kernel_keep(get("conv_L"), "conv_L_cache"));
      rec = 0;
      break;
    case LinearBlock::None:
      throw std::logic_error("[arch] linear layer in a family without a linear block");
  }
  auto total = (conv && rec) ? checked_add(*conv, *rec) : std::nullopt;
  if (!total) cv.fail("linear state", "state size overflows 64 bits");
  return *total;
}

// f32 values per token of a chunk that a linear block's forward holds between its input norm and
// its output projection, laid out as [in_proj outputs | conv outputs | mixer output]:
//   Gated DeltaNet: q,k (2 x key) v,z (2 x value) b,a (2 x v_heads) | conv over q,k,v
//                   (2 x key + value) | recurrence output, gated-normed in place (value)
//   Mamba2:         z (inner) x,B,C (inner + 2 x groups x state) dt (heads) | conv over x,B,C
//                   (inner + 2 x groups x state) | scan output, gated-normed in place (inner)
//   short conv:     B,C,x (3 x conv_dim) | conv over B*x (conv_dim) | C * conv (conv_dim)
// The recurrences run token by token on the layer's state, so they need no per-token buffer.
uint64_t linear_scratch_elems(const Family& f, const ModelPlan& p, const ConfigView& cv) {
  const auto& e = p.env;
  std::optional<uint64_t> proj, conv, out;
  switch (f.linear) {
    case LinearBlock::GatedDeltaNet: {
      auto qk = checked_mul(2, e.at("lin_key"));
      auto vz = checked_mul(2, e.at("lin_value"));
      auto ba = checked_mul(2, e.at("lin_v_heads"));
      if (qk && vz && ba) proj = checked_add(*qk, *vz);
      if (proj) proj = checked_add(*proj, *ba);
      conv = e.at("lin_conv");
      out = e.at("lin_value");
      break;
    }
    case LinearBlock::Mamba2:
      proj = e.at("m_in_out");
      conv = e.at("m_conv");
      out = e.at("m_inter");
      break;
    case LinearBlock::ShortConv:
      proj = checked_mul(3, e.at("conv_dim"));
      conv = out = e.at("conv_dim");
      break;
    case LinearBlock::None:
      throw std::logic_error("[arch] linear layer in a family without a linear block");
  }
  auto total = (proj && conv && out) ? checked_add(*proj, *conv) : std::nullopt;
  if (total) total = checked_add(*total, *out);
  if (!total) cv.fail("linear scratch", "per-token width overflows 64 bits");
  return *total;
}

}  // namespace

uint64_t dim_mul(const ConfigView& cv, std::string_view field, uint64_t a, uint64_t b) {
  auto r = checked_mul(a, b);
  if (!r) cv.fail(field, "dimension overflows 64 bits");
  return *r;
}

uint64_t dim_add(const ConfigView& cv, std::string_view field, uint64_t a, uint64_t b) {
  auto r = checked_add(a, b);
  if (!r) cv.fail(field, "dimension overflows 64 bits");
  return *r;
}

const std::vector<Family>& families() {
  static const std::vector<Family> all = [] {
    std::vector<Family> v;
    add_dense_families(v);
    add_moe_families(v);
    add_hybrid_families(v);
    return v;
  }();
  return all;
}

const Family* find_family(std::string_view model_type) {
  for (const auto& f : families())
    for (auto t : f.model_types)
      if (t == model_type) return &f;
  return nullptr;
}

ModelPlan derive_plan(const nlohmann::json& config, const std::string& config_name) {
  ConfigView cv(config, config_name);
  const auto model_type = cv.get_string("model_type");
  if (!model_type)
    throw ConfigError("arch", "missing required field (" + config_name + ", model_type)");
  const Family* f = find_family(*model_type);
  if (!f) {
    std::string list;
    for (const auto& s : supported_architectures()) list += (list.empty() ? "" : ", ") + s;
    throw UnsupportedArchitecture("arch", "unsupported model_type '" + *model_type + "' (" +
                                              config_name + ", model_type); supported: " + list);
  }
  ModelPlan p;
  p.family = f;
  p.model_type = *model_type;
  p.multimodal = config.contains("_mlxcel_wrapper_model_type");
  p.model_prefix = std::string(p.multimodal && !f->multimodal_prefix.empty()
                                   ? f->multimodal_prefix
                                   : f->model_prefix);

  uint64_t n = 0;
  if (f->mixer == MixerRule::HybridPattern) {
    n = hybrid_pattern(cv).size();
    if (n == 0) cv.fail("hybrid_override_pattern", "is empty");
    check_bound(cv, cv.find("hybrid_override_pattern") ? "hybrid_override_pattern" : "layers_block_type",
                n, kMaxLayers, "layers");
    if (auto declared = cv.get_u64("num_hidden_layers"); declared && *declared != n)
      cv.fail("num_hidden_layers", "is " + std::to_string(*declared) +
                                       " but hybrid_override_pattern has " + std::to_string(n) +
                                       " layers");
  } else {
    n = cv.require_u64("num_hidden_layers");
  }
  // Layers are planned and their tensors listed one by one: refuse absurd counts first.
  check_bound(cv, "num_hidden_layers", n, kMaxLayers, "layers");

  derive_common(cv, *f, p, n);
  if (f->derive) f->derive(cv, p);
  check_bound(cv, "num_experts", p.env["experts"], kMaxExperts, "experts per layer");

  p.layers.assign(n, LayerPlan{});
  auto types = cv.get_string_list("layer_types");
  if (types && types->size() != n)
    cv.fail("layer_types", "has " + std::to_string(types->size()) + " entries, expected " +
                               std::to_string(n));
  plan_mixers(cv, *f, p, types);
  plan_ffn(cv, *f, p);

  const bool any_moe = std::any_of(p.layers.begin(), p.layers.end(),
                                   [](const LayerPlan& l) { return l.ffn == FfnKind::Moe; });
  if (any_moe && p.env["experts"] == 0) cv.require_u64("num_experts");
  if (any_moe && p.env["moe_inter"] == 0) cv.require_u64("moe_intermediate_size");
  const bool any_dense = std::any_of(p.layers.begin(), p.layers.end(),
                                     [](const LayerPlan& l) { return l.ffn == FfnKind::Dense; });
  if (any_dense && p.env["inter"] == 0) cv.require_u64("intermediate_size");

  for (uint64_t i = 0; i < n; ++i) {
    auto& l = p.layers[i];
    LayerCache c;
    if (l.mixer == MixerKind::None) {
      c.kind = LayerKind::None;
    } else if (l.mixer == MixerKind::Linear) {
      c.kind = LayerKind::Linear;
      c.state_elems = linear_state_elems(*f, p, cv);
      c.scratch_elems_per_token = linear_scratch_elems(*f, p, cv);
      c.state_dtype = DType::F32;
    } else if (f->attn == AttnBlock::Mla) {
      c.kind = LayerKind::Mla;
      auto latent = checked_add(p.env["kv_lora"], p.env["qk_rope"]);
      if (!latent || *latent > UINT32_MAX) cv.fail("kv_lora_rank", "latent size too large");
      c.latent_dim = static_cast<uint32_t>(*latent);
      // Per-head query/key width (nope + rope part) and value width: the attention workspace
      // (q, attn_out) is heads x these, not heads x latent.
      if (p.env["q_head"] > UINT32_MAX || p.env["v_head"] > UINT32_MAX)
        cv.fail("qk_nope_head_dim", "attention dimensions too large");
      c.k_head_dim = static_cast<uint32_t>(p.env["q_head"]);
      c.v_head_dim = static_cast<uint32_t>(p.env["v_head"]);
    } else {
      if (p.env["kv_heads"] > UINT32_MAX || p.env["head_dim"] > UINT32_MAX)
        cv.fail("head_dim", "attention dimensions too large");
      c.kv_heads = static_cast<uint32_t>(p.env["kv_heads"]);
      c.k_head_dim = c.v_head_dim = static_cast<uint32_t>(p.env["head_dim"]);
      uint64_t window = sliding_window_of(cv, *f, p, i, types);
      // A window covering the whole trained context never evicts anything.
      if (window > 0 && p.env["max_pos"] > 0 && window >= p.env["max_pos"]) window = 0;
      c.kind = window > 0 ? LayerKind::Sliding : LayerKind::Full;
      c.window = window;
    }
    l.cache = c;
  }

  if (f->mtp != MtpStyle::None) {
    if (auto m = cv.get_u64("num_nextn_predict_layers")) {
      p.mtp_layers = *m;
    } else {
      p.mtp_layers = f->mtp_default;
      if (p.mtp_layers > 0)
        p.warnings.push_back("config has no MTP layer count; assuming " +
                             std::to_string(p.mtp_layers) +
                             " MTP layer(s) as in the published checkpoint");
    }
    if (p.mtp_layers > 64) cv.fail("num_nextn_predict_layers", "implausible MTP layer count");
  }
  // Every routed expert of every MoE layer (MTP layers are MoE when the model is) gets its own
  // tensors in the spec: bound the total before anything lists them.
  if (p.env["experts"] > 0) {
    const uint64_t moe_layers =
        static_cast<uint64_t>(std::count_if(p.layers.begin(), p.layers.end(),
                                            [](const LayerPlan& l) { return l.ffn == FfnKind::Moe; })) +
        p.mtp_layers;
    const uint64_t expert_layers = p.env["experts"] * moe_layers;  // <= 4096 x 4160
    if (expert_layers > kMaxExpertLayers) {
      const std::string field =
          cv.spelling("num_experts").empty() ? "num_experts" : cv.spelling("num_experts");
      throw ConfigError("arch", fmt::format("implausible expert count: {} experts x {} MoE layers = {} "
                                            "expert-layers, more than the {} any real model comes "
                                            "near ({}, {}, {})",
                                            p.env["experts"], moe_layers, expert_layers,
                                            kMaxExpertLayers, cv.name(), field, p.env["experts"]));
    }
  }
  return p;
}

}  // namespace arch

std::vector<std::string> supported_architectures() {
  std::vector<std::string> out;
  for (const auto& f : arch::families()) {
    std::string s(f.name);
    s += " (";
    for (size_t i = 0; i < f.model_types.size(); ++i)
      s += (i ? ", " : "") + std::string(f.model_types[i]);
    s += ")";
    out.push_back(std::move(s));
  }
  return out;
}

bool has_forward_pass(std::string_view architecture) {
  for (const auto& f : arch::families())
    if (f.name == architecture) return f.runnable;
  return false;
}

std::vector<std::string> runnable_architectures() {
  std::vector<std::string> out;
  for (const auto& f : arch::families())
    if (f.runnable) out.emplace_back(f.name);
  return out;
}

}  // namespace mlxcel
