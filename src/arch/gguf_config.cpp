// An HF-style config from GGUF metadata, so the registry's layer plan (kinds, windows, linear
// states) works the same for GGUF files. Weights of a GGUF are always exact (tensor infos); only
// dims and caches come from here.
#include <algorithm>

#include "arch/limits.h"
#include "arch/registry.h"
#include "io/gguf.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

struct ArchMap {
  std::string_view gguf;
  std::string_view model_type;
};

// general.architecture -> model_type of the registry family with the same layout.
constexpr ArchMap kArchs[] = {
    {"llama", "llama"},         {"mistral", "mistral"},       {"qwen2", "qwen2"},
    {"qwen2moe", "qwen2_moe"},  {"qwen3", "qwen3"},           {"qwen3moe", "qwen3_moe"},
    {"qwen3next", "qwen3_next"}, {"qwen35", "qwen3_5_text"},  {"qwen35moe", "qwen3_5_moe_text"},
    {"gemma", "gemma"},         {"gemma2", "gemma2"},         {"gemma3", "gemma3_text"},
    {"phi3", "phi3"},           {"deepseek2", "deepseek_v3"}, {"gpt-oss", "gpt_oss"},
    {"llama4", "llama4_text"},  {"granite", "granite"},       {"granitemoe", "granitemoe"},
    {"falcon", "falcon"},       {"nemotron_h", "nemotron_h"}, {"lfm2", "lfm2"},
    {"minimax-m2", "minimax_m2"},
};

class Meta {
 public:
  Meta(const GgufFile& g, std::string arch) : g_(g), arch_(std::move(arch)) {}

  const nlohmann::json* raw(const std::string& suffix) const {
    auto it = g_.metadata.find(arch_ + "." + suffix);
    if (it == g_.metadata.end() || it->is_null()) return nullptr;
    return &*it;
  }
  // A scalar, or the largest element of a per-layer array.
  std::optional<uint64_t> u64(const std::string& suffix) const {
    const auto* v = raw(suffix);
    if (!v) return std::nullopt;
    if (v->is_number_unsigned()) return v->get<uint64_t>();
    if (v->is_number_integer() && v->get<int64_t>() >= 0) return v->get<int64_t>();
    if (v->is_array() && !v->empty()) {
      uint64_t best = 0;
      for (const auto& e : *v) best = std::max(best, as_u64(e, suffix));
      return best;
    }
    bad(suffix, *v);
  }
  std::vector<uint64_t> per_layer(const std::string& suffix, uint64_t layers) const {
    const auto* v = raw(suffix);
    if (!v) return {};
    if (!v->is_array()) return std::vector<uint64_t>(layers, *u64(suffix));
    if (v->size() != layers)
      throw ConfigError("arch", "per-layer array has " + std::to_string(v->size()) +
                                    " entries for " + std::to_string(layers) + " layers (" +
                                    g_.path + ", " + arch_ + "." + suffix + ")");
    std::vector<uint64_t> out;
    for (const auto& e : *v) out.push_back(as_u64(e, suffix));
    return out;
  }
  std::optional<double> f64(const std::string& suffix) const {
    const auto* v = raw(suffix);
    if (v && v->is_number()) return v->get<double>();
    return std::nullopt;
  }

 private:
  uint64_t as_u64(const nlohmann::json& e, const std::string& suffix) const {
    if (e.is_number_unsigned()) return e.get<uint64_t>();
    if (e.is_number_integer() && e.get<int64_t>() >= 0) return e.get<int64_t>();
    bad(suffix, e);
  }
  [[noreturn]] void bad(const std::string& suffix, const nlohmann::json& v) const {
    std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    throw ConfigError("arch", "expected a non-negative integer (" + g_.path + ", " + arch_ + "." +
                                  suffix + ", " + s + ")");
  }
  const GgufFile& g_;
  std::string arch_;
};

std::optional<uint64_t> vocab_of(const GgufFile& g, const Meta& m) {
  if (auto v = m.u64("vocab_size")) return v;
  auto it = g.metadata.find("tokenizer.ggml.tokens");
  if (it != g.metadata.end()) {
    if (it->is_array()) return it->size();
    if (it->is_object() && it->contains("length") && (*it)["length"].is_number_integer() &&
        (*it)["length"].get<int64_t>() >= 0)
      return (*it)["length"].get<uint64_t>();
  }
  for (const auto& t : g.tensors)  // [vocab, hidden] row-major
    if (t.name == "token_embd.weight" && t.shape.size() == 2) return t.shape[0];
  return std::nullopt;
}

bool has_tensor(const GgufFile& g, std::string_view name) {
  return std::any_of(g.tensors.begin(), g.tensors.end(),
                     [&](const TensorSpec& t) { return t.name == name; });
}

}  // namespace

nlohmann::json config_from_gguf(const GgufFile& g) {
  auto ait = g.metadata.find("general.architecture");
  if (ait == g.metadata.end() || !ait->is_string())
    throw ConfigError("arch", "missing required field (" + g.path + ", general.architecture)");
  const std::string arch = ait->get<std::string>();
  std::string model_type;
  for (const auto& a : kArchs)
    if (a.gguf == arch) model_type = std::string(a.model_type);
  if (model_type.empty()) {
    std::string list;
    for (const auto& a : kArchs) list += (list.empty() ? "" : ", ") + std::string(a.gguf);
    throw UnsupportedArchitecture("arch", "unsupported GGUF architecture '" + arch + "' (" +
                                              g.path + ", general.architecture); supported: " +
                                              list);
  }
  Meta m(g, arch);
  nlohmann::json c = nlohmann::json::object();
  auto put = [&](const char* key, std::optional<uint64_t> v) {
    if (v) c[key] = *v;
  };
  auto need = [&](const char* suffix) {
    auto v = m.u64(suffix);
    if (!v)
      throw ConfigError("arch", "missing required field (" + g.path + ", " + arch + "." + suffix + ")");
    return *v;
  };

  const uint64_t blocks = need("block_count");
  // Per-layer arrays and patterns below are built block by block: bound the count first.
  if (blocks > arch::kMaxLayers)
    throw ConfigError("arch", "implausible block_count: " + std::to_string(blocks) +
                                  " is more than the " + std::to_string(arch::kMaxLayers) +
                                  " layers any real model comes near (" + g.path + ", " + arch +
                                  ".block_count, " + std::to_string(blocks) + ")");
  // MTP ("nextn") blocks are counted in block_count but are not decoder layers.
  const uint64_t nextn = m.u64("nextn_predict_layers").value_or(0);
  if (nextn >= blocks) throw ConfigError("arch", "nextn_predict_layers >= block_count (" + g.path + ")");
  const uint64_t layers = blocks - nextn;
  c["num_hidden_layers"] = layers;
  c["num_nextn_predict_layers"] = nextn;
  c["hidden_size"] = need("embedding_length");
  put("max_position_embeddings", m.u64("context_length"));
  put("intermediate_size", m.u64("feed_forward_length"));
  c["num_attention_heads"] = need("attention.head_count");
  put("num_key_value_heads", m.u64("attention.head_count_kv"));
  put("head_dim", m.u64("attention.key_length"));
  put("sliding_window", m.u64("attention.sliding_window"));
  put("sliding_window_pattern", m.u64("attention.sliding_window_pattern"));
  put("num_experts", m.u64("expert_count"));
  put("num_experts_per_tok", m.u64("expert_used_count"));
  put("moe_intermediate_size", m.u64("expert_feed_forward_length"));
  put("shared_expert_intermediate_size", m.u64("expert_shared_feed_forward_length"));
  put("full_attention_interval", m.u64("full_attention_interval"));
  if (auto theta = m.f64("rope.freq_base")) c["rope_theta"] = *theta;
  auto vocab = vocab_of(g, m);
  if (!vocab) throw ConfigError("arch", "cannot tell the vocabulary size (" + g.path + ")");
  c["vocab_size"] = *vocab;
  c["tie_word_embeddings"] = !has_tensor(g, "output.weight");

  const auto kv = m.per_layer("attention.head_count_kv", layers);
  const auto ff = m.per_layer("feed_forward_length", layers);

  if (arch == "llama" && c.value("num_experts", 0) > 0) model_type = "mixtral";
  if (arch == "deepseek2") {
    const uint64_t rope = need("rope.dimension_count");
    // Newer MLA conversions store the decompressed head sizes under *_mla.
    const uint64_t key = m.u64("attention.key_length_mla").value_or(need("attention.key_length"));
    const uint64_t value =
        m.u64("attention.value_length_mla").value_or(need("attention.value_length"));
    if (key < rope) throw ConfigError("arch", "key_length < rope.dimension_count (" + g.path + ")");
    c["kv_lora_rank"] = need("attention.kv_lora_rank");
    put("q_lora_rank", m.u64("attention.q_lora_rank"));
    c["qk_rope_head_dim"] = rope;
    c["qk_nope_head_dim"] = key - rope;
    c["v_head_dim"] = value;
    c.erase("head_dim");
    put("n_shared_experts", m.u64("expert_shared_count"));
    put("first_k_dense_replace", m.u64("leading_dense_block_count"));
  }
  if (arch == "llama4") {
    // llama.cpp: chunked attention of 8192 on 3 of 4 layers unless sliding_window is 0.
    const auto swa = m.u64("attention.sliding_window");
    if (!swa || *swa > 0) c["attention_chunk_size"] = swa.value_or(8192);
    c.erase("sliding_window");
    put("interleave_moe_layer_step", m.u64("interleave_moe_layer_step"));
  }
  if (arch == "qwen3next" || arch == "qwen35" || arch == "qwen35moe") {
    const uint64_t v_heads = need("ssm.time_step_rank");
    const uint64_t inner = need("ssm.inner_size");
    if (v_heads == 0 || inner % v_heads != 0)
      throw ConfigError("arch", "ssm.inner_size not a multiple of ssm.time_step_rank (" + g.path + ")");
    c["linear_num_value_heads"] = v_heads;
    c["linear_value_head_dim"] = inner / v_heads;
    c["linear_num_key_heads"] = need("ssm.group_count");
    c["linear_key_head_dim"] = need("ssm.state_size");
    c["linear_conv_kernel_dim"] = need("ssm.conv_kernel");
    if (!kv.empty() && std::count(kv.begin(), kv.end(), 0u) > 0) {
      c["layer_types"] = nlohmann::json::array();
      for (auto k : kv) c["layer_types"].push_back(k > 0 ? "full_attention" : "linear_attention");
    }
  }
  if (arch == "nemotron_h") {
    const uint64_t heads = need("ssm.time_step_rank");
    const uint64_t inner = need("ssm.inner_size");
    if (heads == 0 || inner % heads != 0)
      throw ConfigError("arch", "ssm.inner_size not a multiple of ssm.time_step_rank (" + g.path + ")");
    c["mamba_num_heads"] = heads;
    c["mamba_head_dim"] = inner / heads;
    c["n_groups"] = need("ssm.group_count");
    c["ssm_state_size"] = need("ssm.state_size");
    c["conv_kernel"] = need("ssm.conv_kernel");
    // Per layer: KV heads -> attention, a feed-forward width -> MLP (MoE when experts), else Mamba2.
    std::string pattern;
    const bool moe = c.value("num_experts", 0) > 0;
    for (uint64_t i = 0; i < layers; ++i) {
      if (!kv.empty() && kv[i] > 0) pattern += '*';
      else if (!ff.empty() && ff[i] > 0) pattern += moe ? 'E' : '-';
      else pattern += 'M';
    }
    c["hybrid_override_pattern"] = pattern;
    c["n_shared_experts"] = m.u64("expert_shared_count").value_or(0);
  }
  if (arch == "lfm2") {
    c["conv_L_cache"] = need("shortconv.l_cache");
    c["block_ff_dim"] = c.value("intermediate_size", 0);
    c["layer_types"] = nlohmann::json::array();
    for (uint64_t i = 0; i < layers; ++i)
      c["layer_types"].push_back(!kv.empty() && kv[i] > 0 ? "full_attention" : "conv");
  }
  if (arch == "falcon") {
    // The KV head count is explicit in GGUF; new_decoder_architecture makes derive use it.
    c["new_decoder_architecture"] = true;
    c["num_ln_in_parallel_attn"] = has_tensor(g, "blk.0.attn_norm_2.weight") ? 2 : 1;
  }
  if (arch == "gpt-oss") c["attention_bias"] = true;
  c["model_type"] = model_type;
  c["torch_dtype"] = "float16";  // ggml computes in f32/f16; weights are exact anyway
  return c;
}

}  // namespace mlxcel
