#include "arch/config_view.h"

#include <array>
#include <cmath>

#include "arch/registry.h"
#include "core/json_input.h"
#include "io/file_util.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace arch {
namespace {

struct AliasEntry {
  std::string_view canonical;
  std::array<std::string_view, 6> aliases;  // unused slots empty
};

// Canonical HF names first; the rest are spellings used by GPT-2/Falcon/MPT/Phi/Mamba-style
// configs and by MoE families for the same quantity.
constexpr AliasEntry kAliases[] = {
    {"hidden_size", {"n_embd", "d_model", "model_dim"}},
    {"num_hidden_layers", {"n_layer", "num_layers", "n_layers"}},
    {"num_attention_heads", {"n_head", "n_heads", "num_heads"}},
    {"num_key_value_heads", {"n_head_kv", "num_kv_heads", "n_kv_heads"}},
    {"intermediate_size", {"ffn_hidden_size", "n_inner", "ffn_dim"}},
    {"num_experts", {"num_local_experts", "n_routed_experts", "moe_num_experts"}},
    {"num_experts_per_tok", {"moe_topk", "experts_per_token", "num_experts_per_token", "moe_top_k"}},
    {"vocab_size", {"padded_vocab_size", "n_vocab"}},
    {"head_dim", {"attention_head_dim", "head_size"}},
    {"max_position_embeddings", {"n_positions", "max_sequence_length", "max_seq_len", "seq_length"}},
    {"shared_expert_intermediate_size",
     {"moe_shared_expert_intermediate_size", "shared_intermediate_size"}},
    {"sliding_window", {"sliding_window_size"}},
    {"tie_word_embeddings", {"tie_embedding"}},
    {"torch_dtype", {"dtype"}},
    {"num_nextn_predict_layers", {"mtp_num_hidden_layers"}},
};

std::string dump_short(const nlohmann::json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace

std::vector<std::string_view> field_aliases(std::string_view canonical) {
  std::vector<std::string_view> out{canonical};
  for (const auto& e : kAliases) {
    if (e.canonical != canonical) continue;
    for (auto a : e.aliases)
      if (!a.empty()) out.push_back(a);
  }
  return out;
}

const nlohmann::json* ConfigView::find(std::string_view canonical) const {
  if (!config_.is_object()) return nullptr;
  for (auto name : field_aliases(canonical)) {
    auto it = config_.find(std::string(name));
    if (it != config_.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

std::string ConfigView::spelling(std::string_view canonical) const {
  if (!config_.is_object()) return {};
  for (auto name : field_aliases(canonical)) {
    auto it = config_.find(std::string(name));
    if (it != config_.end() && !it->is_null()) return std::string(name);
  }
  return {};
}

void ConfigView::fail(std::string_view field, const std::string& what) const {
  throw ConfigError("arch", what + " (" + name_ + ", " + std::string(field) + ")");
}

std::optional<uint64_t> ConfigView::get_u64(std::string_view canonical) const {
  const auto* v = find(canonical);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer()) {
    int64_t i = v->get<int64_t>();
    if (i >= 0) return static_cast<uint64_t>(i);
  } else if (v->is_number_float()) {
    double d = v->get<double>();
    // 4096.0 is a count written by a float-happy exporter; 1e300 or 0.5 is not.
    if (d >= 0 && d < 1.8e19 && std::floor(d) == d) return static_cast<uint64_t>(d);
  }
  fail(spelling(canonical), "expected a non-negative integer, got " + dump_short(*v));
}

uint64_t ConfigView::require_u64(std::string_view canonical) const {
  auto v = get_u64(canonical);
  if (!v) {
    std::string names;
    for (auto a : field_aliases(canonical)) names += (names.empty() ? "" : "/") + std::string(a);
    throw ConfigError("arch", "missing required field (" + name_ + ", " + names + ")");
  }
  if (*v == 0) fail(spelling(canonical), "must be greater than 0, got 0");
  return *v;
}

std::optional<bool> ConfigView::get_bool(std::string_view canonical) const {
  const auto* v = find(canonical);
  if (!v) return std::nullopt;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_number_integer() && (v->get<int64_t>() == 0 || v->get<int64_t>() == 1))
    return v->get<int64_t>() == 1;
  fail(spelling(canonical), "expected a boolean, got " + dump_short(*v));
}

std::optional<double> ConfigView::get_double(std::string_view canonical) const {
  const auto* v = find(canonical);
  if (!v) return std::nullopt;
  if (v->is_number()) return v->get<double>();
  fail(spelling(canonical), "expected a number, got " + dump_short(*v));
}

std::optional<std::string> ConfigView::get_string(std::string_view canonical) const {
  const auto* v = find(canonical);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  fail(spelling(canonical), "expected a string, got " + dump_short(*v));
}

std::vector<uint64_t> ConfigView::get_u64_list(std::string_view canonical) const {
  const auto* v = find(canonical);
  if (!v) return {};
  if (!v->is_array()) fail(spelling(canonical), "expected an array of integers, got " + dump_short(*v));
  std::vector<uint64_t> out;
  for (const auto& e : *v) {
    if (e.is_number_unsigned()) {
      out.push_back(e.get<uint64_t>());
    } else if (e.is_number_integer() && e.get<int64_t>() >= 0) {
      out.push_back(static_cast<uint64_t>(e.get<int64_t>()));
    } else {
      fail(spelling(canonical), "expected non-negative integers, got element " + dump_short(e));
    }
  }
  return out;
}

std::optional<std::vector<std::string>> ConfigView::get_string_list(
    std::string_view canonical) const {
  const auto* v = find(canonical);
  if (!v) return std::nullopt;
  if (!v->is_array()) fail(spelling(canonical), "expected an array of strings, got " + dump_short(*v));
  std::vector<std::string> out;
  for (const auto& e : *v) {
    if (!e.is_string()) fail(spelling(canonical), "expected strings, got element " + dump_short(e));
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace arch

nlohmann::json read_config_json(const std::string& path) {
  // Real configs are a few kilobytes (the largest, with per-layer lists, well under 1 MiB).
  constexpr uint64_t kMaxConfigBytes = 16ull << 20;
  const std::string text = io::read_small_file(path, kMaxConfigBytes, "arch", "config");
  // nlohmann rejects invalid UTF-8 in strings while parsing, so the one check covers both.
  std::string why;
  std::optional<nlohmann::json> j = try_parse_json(text, &why);
  if (!j) {
    throw FormatError("arch", "invalid JSON in config (" + path + ", " +
                                  io::json_error_field(text) + ", " + io::printable(why) + ")");
  }
  if (!j->is_object()) throw FormatError("arch", "config is not a JSON object (" + path + ")");
  return std::move(*j);
}

nlohmann::json normalize_config(const nlohmann::json& config) {
  if (!config.is_object()) return config;
  auto it = config.find("text_config");
  if (it == config.end() || !it->is_object()) return config;
  // Multimodal wrapper (Gemma 3, Llama 4, Qwen 3.5): the text model's fields win; wrapper-level
  // fields such as tie_word_embeddings, torch_dtype or quantization fill what it lacks.
  nlohmann::json out = *it;
  for (const auto& [key, value] : config.items()) {
    if (key == "text_config" || key == "vision_config" || key == "audio_config") continue;
    if (key == "model_type") continue;
    if (!out.contains(key) || out[key].is_null()) out[key] = value;
  }
  if (!out.contains("model_type") && config.contains("model_type"))
    out["model_type"] = config["model_type"];
  if (config.contains("model_type") && config["model_type"].is_string())
    out["_mlxcel_wrapper_model_type"] = config["model_type"];
  if (config.contains("vision_config")) out["_mlxcel_has_vision"] = true;
  if (config.contains("audio_config")) out["_mlxcel_has_audio"] = true;
  return out;
}

}  // namespace mlxcel
