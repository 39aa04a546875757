// Component of a tensor from its name alone, for exact specs (safetensors and GGUF). The rules
// agree with the components the family tables assign, so exact and analytic breakdowns match.
// Routers, shared experts and their gates count toward "experts"; a MoE block's whole weight
// is then in one place.
#include <string_view>
#include <vector>

#include "arch/registry.h"

namespace mlxcel {
namespace {

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) dot = s.size();
    out.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool contains(std::string_view s, std::string_view p) { return s.find(p) != std::string_view::npos; }

bool is_gguf_name(std::string_view n) {
  return starts_with(n, "blk.") || starts_with(n, "token_embd") || starts_with(n, "output") ||
         starts_with(n, "rope_") || starts_with(n, "position_embd") || starts_with(n, "token_types");
}

Component classify_gguf(std::string_view n) {
  auto seg = split(n);
  // blk.N.<name>.weight: the tensor kind is the third segment.
  std::string_view kind = seg.size() >= 3 && seg[0] == "blk" ? seg[2] : seg[0];
  if (kind == "token_embd" || kind == "position_embd" || kind == "token_types")
    return Component::Embeddings;
  if (kind == "output") return Component::OutputHead;
  if (contains(kind, "norm")) return Component::Norms;
  if (contains(kind, "_exps") || contains(kind, "_shexp") || kind == "ffn_gate_inp" ||
      contains(kind, "exp_probs") || kind == "ffn_gate_inp_shexp")
    return Component::Experts;
  if (starts_with(kind, "ffn_")) return Component::Mlp;
  if (starts_with(kind, "attn_") || starts_with(kind, "ssm_") || starts_with(kind, "shortconv") ||
      starts_with(kind, "time_mix") || starts_with(kind, "conv"))
    return Component::Attention;
  if (starts_with(kind, "nextn")) return Component::Other;
  return Component::Other;
}

Component classify_hf(std::string_view n) {
  auto seg = split(n);
  for (auto s : seg) {
    if (starts_with(s, "vision") || s == "visual" || starts_with(s, "multi_modal_projector") ||
        starts_with(s, "mm_projector") || starts_with(s, "audio") || s == "image_newline" ||
        starts_with(s, "embed_vision") || starts_with(s, "embed_audio"))
      return Component::Other;
  }
  for (auto s : seg)
    if (contains(s, "norm") || starts_with(s, "ln_") || s == "ln" || s == "ln_f")
      return Component::Norms;
  for (auto s : seg)
    if (s == "embed_tokens" || s == "wte" || s == "wpe" || s == "word_embeddings" ||
        s == "embeddings" || s == "tok_embeddings" || s == "embedding")
      return Component::Embeddings;
  for (auto s : seg)
    if (s == "lm_head" || s == "output_layer") return Component::OutputHead;
  if (starts_with(n, "output.")) return Component::OutputHead;
  for (auto s : seg)
    if (s == "experts" || s == "switch_mlp" || s == "shared_expert" || s == "shared_experts" ||
        s == "shared_expert_gate" || s == "router" || s == "gate" || s == "block_sparse_moe" ||
        s == "e_score_correction_bias" || s == "moe" || contains(s, "latent_proj"))
      return Component::Experts;
  for (size_t i = 0; i < seg.size(); ++i) {
    auto s = seg[i];
    if (s == "mlp" || s == "feed_forward" || s == "ffn") return Component::Mlp;
    if (s == "mixer" && i + 1 < seg.size() && (seg[i + 1] == "up_proj" || seg[i + 1] == "down_proj"))
      return Component::Mlp;
    if (s == "self_attn" || s == "self_attention" || s == "attention" || s == "attn" ||
        s == "linear_attn" || s == "mixer" || s == "conv" || s == "mamba" || s == "ssm" ||
        s == "time_mix")
      return Component::Attention;
  }
  return Component::Other;
}

}  // namespace

void classify_tensors(std::vector<TensorSpec>& tensors) {
  for (auto& t : tensors)
    t.component = is_gguf_name(t.name) ? classify_gguf(t.name) : classify_hf(t.name);
}

}  // namespace mlxcel
