#include "runtime/random_model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "arch/registry.h"
#include "io/file_util.h"
#include "io/safetensors.h"
#include "mlxcel/errors.h"
#include "runtime/half.h"
#include "runtime/mlx_quant.h"

namespace mlxcel::runtime {
namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "random-model";

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f) throw IoError(kComponent, fmt::format("cannot write ({})", path.string()));
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string dtype_config_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    default: throw UsageError(kComponent, fmt::format("weights must be f32, f16 or bf16 (--dtype, {})", dtype_name(t)));
  }
}

// GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest to U+0100 upwards.
std::string byte_token(int b) {
  const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  uint32_t cp = static_cast<uint32_t>(b);
  if (!printable) {
    int n = 0;
    for (int i = 0; i < b; ++i) {
      const bool p = (i >= 0x21 && i <= 0x7e) || (i >= 0xa1 && i <= 0xac) || (i >= 0xae && i <= 0xff);
      if (!p) ++n;
    }
    cp = 256 + static_cast<uint32_t>(n);
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xc0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  }
  return s;
}

}  // namespace

std::string byte_level_tokenizer_json() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_token(b)] = b;
  auto added = [](int id, const char* text) {
    return nlohmann::json{{"id", id}, {"content", text}, {"single_word", false}, {"lstrip", false},
                          {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  nlohmann::json j = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", {added(kRandomBos, "<|bos|>"), added(kRandomEos, "<|eos|>")}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair",
         {{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {kRandomBos}}, {"tokens", {"<|bos|>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", nlohmann::json::array()}}},
  };
  return j.dump(1) + "\n";
}

std::string byte_level_tokenizer_config_json() {
  nlohmann::json j = {{"bos_token", "<|bos|>"}, {"eos_token", "<|eos|>"}, {"add_bos_token", true},
                      {"tokenizer_class", "PreTrainedTokenizerFast"}, {"model_max_length", 131072}};
  return j.dump(1) + "\n";
}

namespace {

// The object holding the text model's settings: a multimodal checkpoint nests them in
// text_config (Qwen3.5, Gemma 3), and the registry reads them from there.
nlohmann::json& text_settings(nlohmann::json& c) {
  if (auto it = c.find("text_config"); it != c.end() && it->is_object()) return *it;
  return c;
}

// Per-layer patterns shortened to `layers` the same way: lists cycle through their original
// entries, index lists keep the indices that still exist (at least one), counts are capped.
void shorten_layer_patterns(nlohmann::json& t, uint64_t layers) {
  for (const char* key : {"layer_types", "layers_block_type"}) {
    if (auto it = t.find(key); it != t.end() && it->is_array() && !it->empty()) {
      nlohmann::json cycled = nlohmann::json::array();
      for (uint64_t i = 0; i < layers; ++i) cycled.push_back((*it)[i % it->size()]);
      *it = cycled;
    }
  }
  if (auto it = t.find("hybrid_override_pattern"); it != t.end() && it->is_string() && !it->get<std::string>().empty()) {
    const std::string p = it->get<std::string>();
    std::string cycled;
    for (uint64_t i = 0; i < layers; ++i) cycled += p[i % p.size()];
    *it = cycled;
  }
  for (const char* key : {"full_attn_idxs", "mlp_only_layers"}) {
    auto it = t.find(key);
    if (it == t.end() || !it->is_array()) continue;
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& v : *it)
      if (v.is_number_unsigned() && v.get<uint64_t>() < layers) kept.push_back(v);
    // full attention must keep a layer (the last one, as hybrids end with one); mlp-only may empty.
    if (kept.empty() && std::string_view(key) == "full_attn_idxs" && !it->empty()) kept.push_back(layers - 1);
    *it = kept;
  }
  for (const char* key : {"max_window_layers", "first_k_dense_replace"}) {
    if (auto it = t.find(key); it != t.end() && it->is_number_unsigned()) *it = std::min(it->get<uint64_t>(), layers);
  }
}

}  // namespace

nlohmann::json random_model_config(const nlohmann::json& config_in, const RandomModelOptions& o) {
  nlohmann::json c = config_in;
  const bool nested = c.contains("text_config") && c["text_config"].is_object();
  nlohmann::json& t = text_settings(c);
  // An override goes where the registry reads it (text_config when nested) and replaces any copy
  // at the top level too, so the two never disagree.
  auto put = [&](const char* key, const nlohmann::json& v) {
    t[key] = v;
    if (nested && c.contains(key)) c[key] = v;
  };
  auto set = [&](const char* key, const std::optional<uint64_t>& v) {
    if (!v) return;
    if (*v == 0) throw UsageError(kComponent, fmt::format("dimension override must be positive ({}, 0)", key));
    put(key, *v);
  };
  set("num_hidden_layers", o.layers);
  set("hidden_size", o.hidden);
  set("intermediate_size", o.intermediate);
  set("num_attention_heads", o.heads);
  set("num_key_value_heads", o.kv_heads);
  set("vocab_size", o.vocab);
  if (o.head_dim) {
    set("head_dim", o.head_dim);
  } else if ((o.hidden || o.heads) && t.contains("hidden_size") && t.contains("num_attention_heads") &&
             t["hidden_size"].is_number_unsigned() && t["num_attention_heads"].is_number_unsigned()) {
    const uint64_t h = t["hidden_size"].get<uint64_t>(), n = t["num_attention_heads"].get<uint64_t>();
    if (n == 0 || h % n != 0) {
      throw UsageError(kComponent, fmt::format("heads do not divide hidden (--heads, {} for hidden {})", n, h));
    }
    put("head_dim", h / n);
  }
  if (o.layers) {
    shorten_layer_patterns(t, *o.layers);
    if (nested) shorten_layer_patterns(c, *o.layers);
  }
  if (!t.contains("vocab_size") || !t["vocab_size"].is_number_unsigned() || t["vocab_size"].get<uint64_t>() < 258) {
    throw UsageError(kComponent, "vocabulary must hold at least 258 tokens for the byte-level tokenizer (--vocab)");
  }
  c["torch_dtype"] = dtype_config_name(o.dtype);
  c["bos_token_id"] = kRandomBos;
  c["eos_token_id"] = kRandomEos;
  if (nested) {
    for (const char* key : {"torch_dtype", "dtype"})
      if (t.contains(key)) t[key] = dtype_config_name(o.dtype);
    for (const char* key : {"bos_token_id", "eos_token_id"})
      if (t.contains(key)) t[key] = c[key];
  }
  c.erase("quantization");
  c.erase("quantization_config");
  if (o.bits) {
    if (*o.bits != 4 && *o.bits != 8) throw UsageError(kComponent, fmt::format("bits must be 4 or 8 (--bits, {})", *o.bits));
    if (o.group_size != 32 && o.group_size != 64 && o.group_size != 128) {
      throw UsageError(kComponent, fmt::format("group size must be 32, 64 or 128 (--group-size, {})", o.group_size));
    }
    nlohmann::json q = {{"group_size", o.group_size}, {"bits", *o.bits}};
    c["quantization"] = q;
    c["quantization_config"] = q;
  }
  return c;
}

RandomModelPlan plan_random_model(const nlohmann::json& config_in, const RandomModelOptions& o) {
  nlohmann::json float_config = random_model_config(config_in, o);
  float_config.erase("quantization");
  float_config.erase("quantization_config");
  AnalyticOptions ao;
  ao.float_dtype = o.dtype;
  const ModelSpec spec = analytic_spec(float_config, ao, "config.json");
  RandomModelPlan p;
  p.float_bytes = spec.weight_bytes();
  uint64_t largest = 0;
  for (const TensorSpec& t : spec.tensors) {
    uint64_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    largest = std::max(largest, n);
  }
  if (o.bits) {
    AnalyticOptions qo;
    Quantization q;
    q.method = QuantMethod::Mlx;
    q.bits = *o.bits;
    q.group_size = o.group_size;
    qo.requantize = q;
    qo.float_dtype = o.dtype;
    p.file_bytes = analytic_spec(float_config, qo, "config.json").weight_bytes();
  } else {
    p.file_bytes = p.float_bytes;
  }
  // Every tensor's output bytes are held until the one write, plus one tensor's f32 values.
  p.memory_bytes = p.file_bytes + largest * 4;
  return p;
}

void make_random_model(const nlohmann::json& config_in, const RandomModelOptions& o, const std::string& out_dir) {
  nlohmann::json config = random_model_config(config_in, o);
  nlohmann::json float_config = config;
  float_config.erase("quantization");
  float_config.erase("quantization_config");
  AnalyticOptions ao;
  ao.float_dtype = o.dtype;
  ModelSpec spec = analytic_spec(float_config, ao, "config.json");

  std::mt19937_64 rng(o.seed);
  auto uniform = [&]() { return static_cast<float>(static_cast<double>(rng() >> 11) * 0x1.0p-52 - 1.0); };

  struct Out {
    std::string name;
    DType dtype;
    std::vector<uint64_t> shape;
    std::vector<uint8_t> data;
  };
  std::vector<Out> out;
  for (const TensorSpec& t : spec.tensors) {
    uint64_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    std::vector<float> v(n);
    if (t.shape.size() == 1 && ends_with(t.name, ".bias")) {
      for (float& x : v) x = 0.1f * uniform();
    } else if (t.shape.size() == 1) {
      for (float& x : v) x = 1.0f + 0.1f * uniform();
    } else {
      const bool embedding = t.component == Component::Embeddings;
      const float scale = embedding ? 1.0f : 1.0f / std::sqrt(static_cast<float>(t.shape.back()));
      for (float& x : v) x = scale * uniform();
    }
    const bool quantize = o.bits && t.shape.size() == 2 && ends_with(t.name, ".weight") && t.shape[1] % o.group_size == 0;
    if (!quantize) {
      out.push_back({t.name, o.dtype, t.shape, from_f32(v.data(), n, o.dtype)});
      continue;
    }
    const uint64_t rows = t.shape[0], cols = t.shape[1];
    MlxQuantized q = mlx_quantize(v.data(), rows, cols, *o.bits, o.group_size, o.dtype);
    const std::string base = t.name.substr(0, t.name.size() - 7);
    out.push_back({t.name, DType::U32, {rows, cols * *o.bits / 32}, std::move(q.packed)});
    out.push_back({base + ".scales", o.dtype, {rows, cols / o.group_size}, std::move(q.scales)});
    out.push_back({base + ".biases", o.dtype, {rows, cols / o.group_size}, std::move(q.biases)});
  }

  std::vector<SafetensorsTensorData> data;
  data.reserve(out.size());
  for (const Out& t : out) data.push_back({t.name, t.dtype, t.shape, t.data.data()});
  // The four files appear in out_dir together or not at all (a failed write leaves nothing).
  io::StagedDir dir(out_dir, kComponent);
  write_safetensors(dir.file("model.safetensors"), data, {{"format", o.bits ? "mlx" : "pt"}});
  write_text(dir.file("config.json"), config.dump(2) + "\n");
  write_text(dir.file("tokenizer.json"), byte_level_tokenizer_json());
  write_text(dir.file("tokenizer_config.json"), byte_level_tokenizer_config_json());
  dir.commit();
}

}  // namespace mlxcel::runtime
