// Running the mlxcel binary and writing small models for end-to-end CLI tests.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "support/test_paths.h"

namespace mlxcel::test {

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Runs a shell command line; stdout and stderr captured apart.
inline CliResult run_command(std::string cmd) {
  TempDir tmp;
  const std::string err_path = tmp.file("stderr");
  cmd += " 2>" + shell_quote(err_path);
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = read_text(err_path);
  return r;
}

// Runs MLXCEL_BINARY with the arguments; stdout and stderr captured apart.
inline CliResult run_mlxcel(const std::vector<std::string>& args) {
  std::string cmd = shell_quote(MLXCEL_BINARY);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  return run_command(cmd);
}

// A tiny Llama: hidden 64, 2 layers, 4 heads, 2 KV heads (head_dim 16), ffn 176, vocab 512,
// F32. Bytes: embeddings 512x64x4 = 131072; per layer norms 2x64x4 = 512, attention
// (64x64 + 32x64 + 32x64 + 64x64) x 4 = 49152, MLP 3 x 176x64x4 = 135168; final norm 256;
// lm_head 131072. Total 131072 + 2 x (512 + 49152 + 135168) + 256 + 131072 = 632064.
inline const char* kTinyLlamaConfig = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
  "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
  "tie_word_embeddings": false, "torch_dtype": "float32"
})";

inline std::vector<SafetensorsTensorData> tiny_llama_tensors() {
  std::vector<SafetensorsTensorData> t;
  auto add = [&](std::string name, std::vector<uint64_t> shape) {
    t.push_back({std::move(name), DType::F32, std::move(shape), nullptr});
  };
  add("model.embed_tokens.weight", {512, 64});
  for (int l = 0; l < 2; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {64});
    add(p + "self_attn.q_proj.weight", {64, 64});
    add(p + "self_attn.k_proj.weight", {32, 64});
    add(p + "self_attn.v_proj.weight", {32, 64});
    add(p + "self_attn.o_proj.weight", {64, 64});
    add(p + "post_attention_layernorm.weight", {64});
    add(p + "mlp.gate_proj.weight", {176, 64});
    add(p + "mlp.up_proj.weight", {176, 64});
    add(p + "mlp.down_proj.weight", {64, 176});
  }
  add("model.norm.weight", {64});
  add("lm_head.weight", {512, 64});
  return t;
}

// Single file (shards == 1) or split in order across shards with an index.
inline void write_tiny_llama(const std::filesystem::path& dir, int shards = 1) {
  std::filesystem::create_directories(dir);
  write_text((dir / "config.json").string(), kTinyLlamaConfig);
  auto all = tiny_llama_tensors();
  if (shards == 1) {
    write_safetensors((dir / "model.safetensors").string(), all);
    return;
  }
  std::map<std::string, std::string> weight_map;
  size_t per = (all.size() + shards - 1) / shards;
  for (int s = 0; s < shards; ++s) {
    std::string name = "model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(shards) +
                       ".safetensors";
    std::vector<SafetensorsTensorData> part;
    for (size_t i = s * per; i < std::min(all.size(), (s + 1) * per); ++i) {
      part.push_back(all[i]);
      weight_map[all[i].name] = name;
    }
    write_safetensors((dir / name).string(), part);
  }
  write_safetensors_index((dir / "model.safetensors.index.json").string(), 632064, weight_map);
}

// The same model as a GGUF file (llama metadata, ggml tensor names, F32).
inline void write_tiny_llama_gguf(const std::string& path) {
  nlohmann::json meta = {
      {"general.architecture", "llama"},
      {"general.alignment", 32},
      {"llama.block_count", 2},
      {"llama.context_length", 1024},
      {"llama.embedding_length", 64},
      {"llama.feed_forward_length", 176},
      {"llama.attention.head_count", 4},
      {"llama.attention.head_count_kv", 2},
      {"llama.attention.layer_norm_rms_epsilon", 1e-5},
      {"llama.rope.freq_base", 10000.0},
      {"llama.vocab_size", 512},
  };
  std::map<std::string, uint32_t> types = {{"general.alignment", 4}, {"llama.block_count", 4},
                                           {"llama.context_length", 4},
                                           {"llama.embedding_length", 4},
                                           {"llama.feed_forward_length", 4},
                                           {"llama.attention.head_count", 4},
                                           {"llama.attention.head_count_kv", 4},
                                           {"llama.vocab_size", 4}};
  std::vector<GgufTensorData> t;
  auto add = [&](std::string name, std::vector<uint64_t> shape) {
    t.push_back({std::move(name), DType::F32, std::move(shape), nullptr});
  };
  add("token_embd.weight", {512, 64});
  for (int l = 0; l < 2; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {64});
    add(p + "attn_q.weight", {64, 64});
    add(p + "attn_k.weight", {32, 64});
    add(p + "attn_v.weight", {32, 64});
    add(p + "attn_output.weight", {64, 64});
    add(p + "ffn_norm.weight", {64});
    add(p + "ffn_gate.weight", {176, 64});
    add(p + "ffn_up.weight", {176, 64});
    add(p + "ffn_down.weight", {64, 176});
  }
  add("output_norm.weight", {64});
  add("output.weight", {512, 64});
  write_gguf(path, meta, t, types);
}

// A calibration profile with only a 1000000-byte base, so totals are easy to derive by hand.
inline const char* kTestProfile = R"({
  "schema_version": 1, "calibrated": false,
  "provenance": {"summary": "test profile: base only"},
  "coefficients": {"base_bytes": 1000000, "per_thread_bytes": 0, "weights_fraction": 0,
                   "kv_fraction": 0, "workspace_fraction": 0, "margin": 0}
})";

}  // namespace mlxcel::test
