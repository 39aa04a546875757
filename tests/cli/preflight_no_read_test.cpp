// The preflight decides before any tensor data is read: a model whose 2.4 GB data region is one
// big hole (never written) is refused in a process that has read only headers and the tokenizer.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "cli/cli_util.h"

using namespace mlxcel;
using namespace mlxcel::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A Llama with hidden 4096, ffn 11008, 3 layers, 32 heads (= KV heads) of 128, vocab 512, f32:
// per layer attention 4 x 4096 x 4096 x 4 = 268435456 B, MLP 3 x 11008 x 4096 x 4 = 541065216 B,
// norms 2 x 4096 x 4 = 32768 B; embeddings and lm_head 512 x 4096 x 4 = 8388608 B each; final
// norm 16384 B. Weights: 3 x 809533440 + 2 x 8388608 + 16384 = 2445393920 B.
constexpr uint64_t kWeightBytes = 2445393920ull;

const char* kBigConfig = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 3,
  "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 512,
  "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
  "tie_word_embeddings": false, "torch_dtype": "float32", "bos_token_id": 256, "eos_token_id": 257
})";

void write_hollow_model(const fs::path& dir, const fs::path& tokenizer_from) {
  fs::create_directories(dir);
  write_text((dir / "config.json").string(), kBigConfig);
  std::vector<SafetensorsTensorData> t;
  auto add = [&](std::string name, std::vector<uint64_t> shape) {
    t.push_back({std::move(name), DType::F32, std::move(shape), nullptr});  // nullptr: a hole
  };
  add("model.embed_tokens.weight", {512, 4096});
  for (int l = 0; l < 3; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {4096});
    add(p + "self_attn.q_proj.weight", {4096, 4096});
    add(p + "self_attn.k_proj.weight", {4096, 4096});
    add(p + "self_attn.v_proj.weight", {4096, 4096});
    add(p + "self_attn.o_proj.weight", {4096, 4096});
    add(p + "post_attention_layernorm.weight", {4096});
    add(p + "mlp.gate_proj.weight", {11008, 4096});
    add(p + "mlp.up_proj.weight", {11008, 4096});
    add(p + "mlp.down_proj.weight", {4096, 11008});
  }
  add("model.norm.weight", {4096});
  add("lm_head.weight", {512, 4096});
  write_safetensors((dir / "model.safetensors").string(), t);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(tokenizer_from / f, dir / f);
}

}  // namespace

TEST(PreflightNoRead, RefusesAHollowModelWithoutReadingItsData) {
  TempDir dir;
  write_text(dir.file("tiny.json"), kTinyLlamaConfig);
  CliResult made = run_mlxcel({"make-random-model", dir.file("tiny.json"), "--out", dir.file("tiny"), "--dtype", "f32"});
  ASSERT_EQ(made.code, 0) << made.err;
  write_hollow_model(dir.path() / "big", dir.path() / "tiny");
  const std::string data = dir.file("big/model.safetensors");
  struct stat st {};
  ASSERT_EQ(stat(data.c_str(), &st), 0);
  ASSERT_GT(static_cast<uint64_t>(st.st_size), kWeightBytes);  // header + data region
  ASSERT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 1u << 20) << "the data region should be a hole";

  CliResult r = run_mlxcel({"generate", dir.file("big"), "--prompt", "Hello", "--max-tokens", "10", "--memory-budget",
                            "1GiB", "--json-stats", dir.file("stats.json")});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, "[preflight] generate refused")) << r.err;
  EXPECT_TRUE(contains(r.err, "(1073741824 B) from --memory-budget")) << r.err;
  EXPECT_TRUE(contains(r.err, "weights 2.28 GiB (2445393920 B)")) << r.err;
  json j = json::parse(read_text(dir.file("stats.json")));
  EXPECT_EQ(j["plan"]["weights_bytes"], kWeightBytes);
  EXPECT_TRUE(j["after_load"].is_null());
  // Everything the process read (config, safetensors header, tokenizer, /proc files) is far
  // below one tensor of the data region (67 MB).
  ASSERT_TRUE(j["preflight"]["process_read_bytes"].is_number()) << j["preflight"].dump();
  EXPECT_LT(j["preflight"]["process_read_bytes"].get<uint64_t>(), 4u << 20);
}
