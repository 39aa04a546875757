// fuzz_seeds: makes the inputs the harnesses start from, so that no multi-megabyte file is
// committed. Three modes, each writing <out>/<harness>/<name> files:
//
//   fuzz_seeds derive TESTDATA OUT   seeds cut down from ../shared/testdata: vocab-only GGUFs
//                                    shrunk to their first 512 tokens, tokenizer.json files shrunk
//                                    to their first 600 ids (+ added tokens), the first 1000 tiktoken
//                                    ranks, every config.json, every chat template
//   fuzz_seeds synthetic OUT         small well-formed model files (tiny Llama as GGUF and as
//                                    safetensors, with its config); committed under fuzz/corpus
//   fuzz_seeds huge OUT              known-bad inputs too large to commit (> 100 KB): JSON nested
//                                    100,000 deep, a 100,000-filter Jinja chain, deep Jinja nesting
//
// Not a fuzz target; scripts/fuzz.sh runs it before the harnesses.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "mlxcel/errors.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

constexpr std::string_view kPart = "\n--mlxcel-fuzz-part--\n";  // fuzz_util.h kPartSeparator

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, std::string_view s) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

int written = 0;
void emit(const fs::path& out, const std::string& harness, const std::string& name, std::string_view s) {
  write_text(out / harness / name, s);
  ++written;
}

// --- derive ---------------------------------------------------------------------------------

// A vocab-only GGUF cut to its first `keep` tokens: per-token arrays truncated, merges kept when
// both halves and their join survive, special ids past the cut dropped, other long arrays dropped.
void shrink_gguf(const fs::path& src, const fs::path& dst, uint64_t keep) {
  const mlxcel::GgufFile g = mlxcel::read_gguf(src.string());
  json md = g.metadata;
  std::map<std::string, uint32_t> types = g.metadata_types;
  const json* tokens = md.contains("tokenizer.ggml.tokens") ? &md["tokenizer.ggml.tokens"] : nullptr;
  const uint64_t n_tokens = tokens && tokens->is_array() ? tokens->size() : 0;
  std::set<std::string> kept;
  if (tokens) {
    for (uint64_t i = 0; i < std::min(keep, n_tokens); ++i) kept.insert((*tokens)[i].get<std::string>());
  }
  json out = json::object();
  for (auto& [key, value] : md.items()) {
    if (value.is_array() && value.size() == n_tokens && n_tokens > keep) {
      out[key] = json(value.begin(), value.begin() + static_cast<std::ptrdiff_t>(keep));
    } else if (key == "tokenizer.ggml.merges" && value.is_array()) {
      json merges = json::array();
      for (const auto& m : value) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos) continue;
        const std::string a = s.substr(0, sp), b = s.substr(sp + 1);
        if (kept.count(a) && kept.count(b) && kept.count(a + b)) merges.push_back(s);
      }
      out[key] = merges;
    } else if (value.is_array() && value.size() > 1024) {
      types.erase(key);  // e.g. a precompiled charsmap: not needed by the seeds
    } else if (key.rfind("tokenizer.ggml.", 0) == 0 && key.size() > 9 &&
               key.compare(key.size() - 9, 9, "_token_id") == 0 && value.is_number_unsigned() &&
               value.get<uint64_t>() >= keep) {
      types.erase(key);
    } else {
      out[key] = value;
    }
  }
  mlxcel::write_gguf(dst.string(), out, {}, types, g.version);
}

// tokenizer.json cut to ids < keep plus the added tokens' ids; merges kept when their halves and
// join survive (merges as "a b" strings or [a, b] pairs).
std::string shrink_tokenizer_json(const std::string& text, int64_t keep) {
  ojson j = ojson::parse(text);
  std::set<int64_t> extra;
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const auto& t : j["added_tokens"]) {
      if (t.contains("id") && t["id"].is_number_integer()) extra.insert(t["id"].get<int64_t>());
    }
  }
  ojson& model = j["model"];
  if (!model.contains("vocab") || !model["vocab"].is_object()) return j.dump();
  ojson vocab = ojson::object();
  std::set<std::string> kept;
  for (auto& [tok, id] : model["vocab"].items()) {
    if (!id.is_number_integer()) continue;
    const int64_t v = id.get<int64_t>();
    if (v < keep || extra.count(v)) {
      vocab[tok] = id;
      kept.insert(tok);
    }
  }
  model["vocab"] = vocab;
  if (model.contains("merges") && model["merges"].is_array()) {
    ojson merges = ojson::array();
    for (const auto& m : model["merges"]) {
      std::string a, b;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos) continue;
        a = s.substr(0, sp), b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>(), b = m[1].get<std::string>();
      } else {
        continue;
      }
      if (kept.count(a) && kept.count(b) && kept.count(a + b)) merges.push_back(m);
    }
    model["merges"] = merges;
  }
  return j.dump();
}

// tokenizer_config.json without its chat template (the tokenizer harnesses do not use it).
std::string config_without_template(const std::string& text) {
  ojson j = ojson::parse(text);
  if (j.is_object()) j.erase("chat_template");
  return j.dump();
}

void derive(const fs::path& td, const fs::path& out) {
  // GGUF vocabularies: seeds for the vocab harness and the header harness.
  for (const auto& e : fs::directory_iterator(td / "llama.cpp-ggml-vocab")) {
    if (e.path().extension() != ".gguf") continue;
    const std::string stem = e.path().stem().string();
    const fs::path tmp = out / ".tmp.gguf";
    try {
      fs::create_directories(out);
      shrink_gguf(e.path(), tmp, 512);
      const std::string bytes = read_text(tmp);
      emit(out, "gguf_vocab_fuzz", "td-" + stem + "-512.gguf", bytes);
      emit(out, "gguf_header_fuzz", "td-" + stem + "-512.gguf", bytes);
    } catch (const mlxcel::Error& err) {
      std::cerr << "fuzz_seeds: skipped " << e.path() << ": " << err.what() << "\n";
    }
    fs::remove(tmp);
  }
  // tokenizer.json (+ tokenizer_config.json when there is one, + a test text when llama.cpp has
  // vectors for that tokenizer).
  for (const char* dir : {"llama-2-tokenizer", "phi-3-mini-tokenizer", "phi-2-tokenizer", "gpt2-tokenizer",
                          "falcon-tokenizer", "granite-3.1-1b-a400m-instruct-tokenizer"}) {
    const fs::path d = td / dir;
    if (!fs::exists(d / "tokenizer.json")) continue;
    const std::string tj = shrink_tokenizer_json(read_text(d / "tokenizer.json"), 600);
    emit(out, "tokenizer_json_fuzz", std::string("td-") + dir + "-600.json", tj);
    if (fs::exists(d / "tokenizer_config.json")) {
      emit(out, "tokenizer_json_fuzz", std::string("td-") + dir + "-600-with-config",
           tj + std::string(kPart) + config_without_template(read_text(d / "tokenizer_config.json")) +
               std::string(kPart) + "Hello <s> world</s>\n\tcaf\xC3\xA9 123456 <|endoftext|>");
    }
  }
  // tiktoken: the first 1000 ranks, alone and with Llama 3's tokenizer_config.json.
  {
    const fs::path d = td / "llama-3-8b-instruct-tokenizer";
    if (fs::exists(d / "tokenizer.model")) {
      std::istringstream in(read_text(d / "tokenizer.model"));
      std::string line, head;
      for (int i = 0; i < 1000 && std::getline(in, line); ++i) head += line + "\n";
      emit(out, "tiktoken_fuzz", "td-llama3-1000.model", head);
      if (fs::exists(d / "tokenizer_config.json")) {
        emit(out, "tiktoken_fuzz", "td-llama3-1000-with-config",
             head + std::string(kPart) + config_without_template(read_text(d / "tokenizer_config.json")) +
                 std::string(kPart) + "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi 1234!<|eot_id|>");
      }
    }
  }
  // config.json files (the configs collection and the Granite model's own).
  for (const auto& e : fs::recursive_directory_iterator(td)) {
    if (e.path().filename() == "config.json") {
      emit(out, "config_plan_fuzz", "td-" + e.path().parent_path().filename().string() + ".json",
           read_text(e.path()));
    }
  }
  // Chat templates: .jinja files, and chat_template from tokenizer_config.json (string or list).
  for (const auto& e : fs::recursive_directory_iterator(td)) {
    const std::string rel = fs::relative(e.path(), td).string();
    std::string name = "td-" + rel;
    for (char& c : name)
      if (c == '/') c = '_';
    if (e.path().extension() == ".jinja") {
      emit(out, "chat_template_fuzz", name, read_text(e.path()));
    } else if (e.path().filename() == "tokenizer_config.json") {
      const ojson j = ojson::parse(read_text(e.path()));
      if (!j.contains("chat_template")) continue;
      const ojson& ct = j["chat_template"];
      if (ct.is_string()) {
        emit(out, "chat_template_fuzz", name + ".jinja", ct.get<std::string>());
      } else if (ct.is_array()) {
        int k = 0;
        for (const auto& entry : ct) {
          if (entry.contains("template") && entry["template"].is_string()) {
            emit(out, "chat_template_fuzz", name + "." + std::to_string(k++) + ".jinja",
                 entry["template"].get<std::string>());
          }
        }
      }
    }
  }
}

// --- synthetic ------------------------------------------------------------------------------

struct T {
  const char* hf;
  const char* gguf;
  std::vector<uint64_t> shape;
};

// A one-layer Llama (hidden 32, 4 heads of 8, 2 KV heads, FFN 64, vocab 32).
std::vector<T> tiny_llama() {
  return {
      {"model.embed_tokens.weight", "token_embd.weight", {32, 32}},
      {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight", {32}},
      {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", {32, 32}},
      {"model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight", {16, 32}},
      {"model.layers.0.self_attn.v_proj.weight", "blk.0.attn_v.weight", {16, 32}},
      {"model.layers.0.self_attn.o_proj.weight", "blk.0.attn_output.weight", {32, 32}},
      {"model.layers.0.post_attention_layernorm.weight", "blk.0.ffn_norm.weight", {32}},
      {"model.layers.0.mlp.gate_proj.weight", "blk.0.ffn_gate.weight", {64, 32}},
      {"model.layers.0.mlp.up_proj.weight", "blk.0.ffn_up.weight", {64, 32}},
      {"model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight", {32, 64}},
      {"model.norm.weight", "output_norm.weight", {32}},
      {"lm_head.weight", "output.weight", {32, 32}},
  };
}

const char* kTinyLlamaConfig = R"({
  "architectures": ["LlamaForCausalLM"],
  "model_type": "llama",
  "hidden_size": 32,
  "intermediate_size": 64,
  "num_hidden_layers": 1,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "max_position_embeddings": 128,
  "rms_norm_eps": 1e-05,
  "rope_theta": 10000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "vocab_size": 32
})";

void synthetic(const fs::path& out) {
  fs::create_directories(out);
  const fs::path tmp = out / ".tmp";
  // safetensors, BF16 (data left as holes: zeros), with __metadata__.
  {
    std::vector<mlxcel::SafetensorsTensorData> ts;
    for (const auto& t : tiny_llama()) ts.push_back({t.hf, mlxcel::DType::BF16, t.shape, nullptr});
    mlxcel::write_safetensors(tmp.string(), ts, {{"format", "pt"}});
    const std::string bytes = read_text(tmp);
    emit(out, "safetensors_header_fuzz", "seed-tiny-llama-bf16.safetensors", bytes);
    emit(out, "config_plan_fuzz", "seed-tiny-llama-config+safetensors",
         std::string(kTinyLlamaConfig) + std::string(kPart) + bytes);
  }
  emit(out, "config_plan_fuzz", "seed-tiny-llama-config.json", kTinyLlamaConfig);
  // GGUF: F16, and Q8_0 for the 2-D weights; with a 32-token "llama" vocabulary.
  json tokens = json::array({"<unk>", "<s>", "</s>"});
  for (int i = 3; i < 32; ++i) tokens.push_back(i < 29 ? std::string(1, char('a' + i - 3)) : "\xE2\x96\x81" + std::to_string(i));
  json scores = json::array(), types = json::array();
  for (int i = 0; i < 32; ++i) scores.push_back(-float(i)), types.push_back(i < 3 ? 3 : 1);
  const json md = {
      {"general.architecture", "llama"},
      {"general.name", "tiny"},
      {"llama.block_count", 1},
      {"llama.context_length", 128},
      {"llama.embedding_length", 32},
      {"llama.feed_forward_length", 64},
      {"llama.attention.head_count", 4},
      {"llama.attention.head_count_kv", 2},
      {"llama.rope.freq_base", 10000.0},
      {"llama.attention.layer_norm_rms_epsilon", 1e-5},
      {"llama.vocab_size", 32},
      {"tokenizer.ggml.model", "llama"},
      {"tokenizer.ggml.tokens", tokens},
      {"tokenizer.ggml.scores", scores},
      {"tokenizer.ggml.token_type", types},
      {"tokenizer.ggml.bos_token_id", 1},
      {"tokenizer.ggml.eos_token_id", 2},
      {"tokenizer.ggml.unknown_token_id", 0},
      {"tokenizer.ggml.add_bos_token", true},
  };
  const std::map<std::string, uint32_t> md_types = {{"tokenizer.ggml.token_type", mlxcel::gguf_type::kInt32}};
  auto tensors = [](bool quant) {
    std::vector<mlxcel::GgufTensorData> ts;
    for (const auto& t : tiny_llama()) {
      const bool q = quant && t.shape.size() == 2;
      ts.push_back({t.gguf, q ? mlxcel::DType::Q8_0 : (t.shape.size() == 1 ? mlxcel::DType::F32 : mlxcel::DType::F16),
                    t.shape, nullptr});
    }
    return ts;
  };
  for (auto [quant, name] : {std::pair{false, "f16"}, std::pair{true, "q8_0"}}) {
    mlxcel::write_gguf(tmp.string(), md, tensors(quant), md_types);
    emit(out, "gguf_header_fuzz", std::string("seed-tiny-llama-") + name + ".gguf", read_text(tmp));
  }
  mlxcel::write_gguf(tmp.string(), md, {}, md_types);
  emit(out, "gguf_vocab_fuzz", "seed-tiny-llama-vocab.gguf", read_text(tmp));
  // Known-bad: block_count 0xFFFFFFFF, with and without the tensors (config_from_gguf and the
  // spec must refuse it before sizing anything per layer).
  json bad = md;
  bad["llama.block_count"] = 0xFFFFFFFFu;
  mlxcel::write_gguf(tmp.string(), bad, tensors(true), md_types);
  emit(out, "gguf_header_fuzz", "regress-block-count-0xffffffff.gguf", read_text(tmp));
  mlxcel::write_gguf(tmp.string(), bad, {}, md_types);
  emit(out, "gguf_header_fuzz", "regress-block-count-0xffffffff-no-tensors.gguf", read_text(tmp));
  // Vocabularies that contradict themselves: special ids past the vocabulary, per-token arrays
  // shorter than the tokens, a gpt2 vocabulary whose merges name tokens it does not have.
  json v = md;
  v["tokenizer.ggml.bos_token_id"] = 0xFFFFFFFFu;
  v["tokenizer.ggml.eos_token_id"] = 32u;
  mlxcel::write_gguf(tmp.string(), v, {}, md_types);
  emit(out, "gguf_vocab_fuzz", "regress-special-ids-past-vocab.gguf", read_text(tmp));
  v = md;
  v["tokenizer.ggml.scores"] = json::array({0.0, -1.0});
  v["tokenizer.ggml.token_type"] = json::array({3});
  mlxcel::write_gguf(tmp.string(), v, {}, md_types);
  emit(out, "gguf_vocab_fuzz", "regress-short-scores-and-types.gguf", read_text(tmp));
  v = md;
  v["tokenizer.ggml.model"] = "gpt2";
  v["tokenizer.ggml.merges"] = json::array({"a b", "ab c", "zz yy", "\xE2\x96\x81", " "});
  mlxcel::write_gguf(tmp.string(), v, {}, md_types);
  emit(out, "gguf_vocab_fuzz", "regress-gpt2-unknown-merges.gguf", read_text(tmp));
  fs::remove(tmp);
}

// --- huge -----------------------------------------------------------------------------------

std::string repeat(std::string_view s, size_t n) {
  std::string r;
  r.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) r += s;
  return r;
}

void huge(const fs::path& out) {
  constexpr size_t kDeep = 100000;
  const std::string deep_array = repeat("[", kDeep) + repeat("]", kDeep);
  const std::string deep_object = repeat("{\"a\":", kDeep) + "1" + repeat("}", kDeep);
  // config.json
  emit(out, "config_plan_fuzz", "regress-deep-array-100000", deep_array);
  emit(out, "config_plan_fuzz", "regress-deep-value-100000",
       "{\"model_type\":\"llama\",\"rope_scaling\":" + deep_array + "}");
  // tokenizer.json (and tokenizer_config.json)
  emit(out, "tokenizer_json_fuzz", "regress-deep-array-100000", deep_array);
  emit(out, "tokenizer_json_fuzz", "regress-deep-normalizer-100000",
       "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":" + deep_object + "}");
  emit(out, "tokenizer_json_fuzz", "regress-deep-config-100000",
       "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}" + std::string(kPart) + deep_array);
  emit(out, "tiktoken_fuzz", "regress-deep-config-100000", "YQ== 0\n" + std::string(kPart) + deep_object);
  // safetensors header: 8-byte little-endian length, then the JSON.
  auto safetensors = [](const std::string& header) {
    std::string s(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
    return s + header;
  };
  emit(out, "safetensors_header_fuzz", "regress-deep-metadata-100000",
       safetensors("{\"__metadata__\":{\"k\":" + deep_array + "}}"));
  emit(out, "safetensors_header_fuzz", "regress-deep-tensor-100000",
       safetensors("{\"t\":{\"dtype\":\"F32\",\"shape\":" + deep_array + ",\"data_offsets\":[0,0]}}"));
  emit(out, "safetensors_header_fuzz", "regress-deep-object-100000", safetensors(deep_object));
  // OpenAI request bodies and a template context.
  emit(out, "openai_request_fuzz", "regress-deep-array-100000", deep_array);
  emit(out, "openai_request_fuzz", "regress-deep-messages-100000",
       "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":" + deep_array + "}]}");
  emit(out, "chat_template_fuzz", "regress-deep-context-100000",
       "{{ messages }}" + std::string(kPart) + deep_array);
  // Jinja: a 100,000-filter chain, deep parentheses, deep lists, deep if blocks.
  emit(out, "chat_template_fuzz", "regress-filter-chain-100000", "{{ 'a'" + repeat("|upper", kDeep) + " }}");
  emit(out, "chat_template_fuzz", "regress-deep-parens-100000", "{{ " + repeat("(", kDeep) + "1" + repeat(")", kDeep) + " }}");
  emit(out, "chat_template_fuzz", "regress-deep-list-100000", "{{ " + deep_array + " }}");
  emit(out, "chat_template_fuzz", "regress-deep-if-100000",
       repeat("{% if true %}", kDeep) + "x" + repeat("{% endif %}", kDeep));
  emit(out, "chat_template_fuzz", "regress-deep-not-100000", "{{ " + repeat("not ", kDeep) + "true }}");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "derive" && argc == 4) {
      derive(argv[2], argv[3]);
    } else if (mode == "synthetic" && argc == 3) {
      synthetic(argv[2]);
    } else if (mode == "huge" && argc == 3) {
      huge(argv[2]);
    } else {
      std::cerr << "usage: fuzz_seeds derive TESTDATA OUT | synthetic OUT | huge OUT\n";
      return 2;
    }
  } catch (const std::exception& e) {
    std::cerr << "fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "fuzz_seeds: wrote " << written << " files\n";
  return 0;
}
