// End to end: `mlxcel inspect` on generated models, through the real binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "arch/registry.h"
#include "cli/cli_util.h"

using namespace mlxcel;
using namespace mlxcel::test;
using nlohmann::json;

namespace {

// tiny Llama (cli_util.h) at --max-tokens 100 --threads 2 with the base-only test profile:
//   weights 632064; KV 2 layers x 2 heads x (32 + 32) B = 256 B/token x 100 = 25600;
//   workspace, R = min(512, 100) = 100 rows: hidden, normed, q, attn_out 4 x 100x64x4 = 102400,
//   k, v 2 x 100x32x4 = 25600, scores 2x100x4 = 800, mlp_gate, mlp_up 2 x 100x176x4 = 140800,
//   matmul_scratch 64 (f32 weights), logits 512x4 = 2048 -> 271712;
//   planned 632064 + 25600 + 271712 = 929376; total = planned + 1000000 = 1929376.
// Up to 512 tokens rows grow with the context: total(c) = 632064 + 1000000 + 2048 + 64 + 2952c
//   (per token: 2688 B of rows + 8 B of scores + 256 B of KV) = 1634176 + 2952c.
//   Budget 2000000 -> c = floor(365824 / 2952) = 123; total(123) = 1997272, total(124) = 2000224.
class InspectTinyLlama : public ::testing::Test {
 protected:
  void SetUp() override {
    write_tiny_llama(dir.path() / "model");
    write_text(dir.file("profile.json"), kTestProfile);
  }
  std::vector<std::string> args(std::vector<std::string> extra) {
    std::vector<std::string> a = {"inspect", (dir.path() / "model").string(), "--max-tokens", "100",
                                  "--threads", "2", "--calibration", dir.file("profile.json")};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  TempDir dir;
};

}  // namespace

TEST_F(InspectTinyLlama, TableHasTheKeyLines) {
  CliResult r = run_mlxcel(args({"--memory-budget", "2000000"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Weights (exact)")) << r.out;
  EXPECT_TRUE(contains(r.out, "632,064 B")) << r.out;
  EXPECT_TRUE(contains(r.out, "attention")) << r.out;
  EXPECT_TRUE(contains(r.out, "dtype F32")) << r.out;
  EXPECT_TRUE(contains(r.out, "KV cache")) << r.out;
  EXPECT_TRUE(contains(r.out, "25,600 B")) << r.out;
  EXPECT_TRUE(contains(r.out, "full x 2")) << r.out;
  EXPECT_TRUE(contains(r.out, "Workspace")) << r.out;
  EXPECT_TRUE(contains(r.out, "271,712 B")) << r.out;
  EXPECT_TRUE(contains(r.out, "UNCALIBRATED")) << r.out;
  EXPECT_TRUE(contains(r.out, "1,929,376 B")) << r.out;
  EXPECT_TRUE(contains(r.out, "--memory-budget")) << r.out;
  EXPECT_TRUE(contains(r.out, "Fits")) << r.out;
  EXPECT_TRUE(contains(r.out, "70,624 B")) << r.out;  // 2000000 - 1929376
  EXPECT_TRUE(contains(r.out, "Max context  123 tokens")) << r.out;
  EXPECT_TRUE(contains(r.out, "Recommended:")) << r.out;
  EXPECT_FALSE(contains(r.out, "{")) << r.out;
}

TEST_F(InspectTinyLlama, JsonNumbersAreTheHandDerivedOnes) {
  CliResult r = run_mlxcel(args({"--memory-budget", "2000000", "--json"}));
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);  // the whole of stdout is one document
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["model"]["source"], "exact");
  EXPECT_EQ(j["model"]["format"], "safetensors");
  EXPECT_EQ(j["weights"]["total_bytes"], 632064u);
  std::map<std::string, uint64_t> components;
  for (const auto& c : j["weights"]["by_component"]) components[c["name"]] = c["bytes"];
  EXPECT_EQ(components["embeddings"], 131072u);
  EXPECT_EQ(components["attention"], 98304u);  // 2 x 49152
  EXPECT_EQ(components["mlp"], 270336u);       // 2 x 135168
  EXPECT_EQ(components["norms"], 1280u);       // (4 x 64 + 64) x 4
  EXPECT_EQ(components["output_head"], 131072u);
  EXPECT_EQ(j["kv"]["bytes_per_token"], 256u);
  EXPECT_EQ(j["kv"]["total_bytes"], 25600u);
  EXPECT_EQ(j["kv"]["layers"].size(), 2u);
  EXPECT_EQ(j["workspace"]["rows"], 100u);
  EXPECT_EQ(j["workspace"]["total_bytes"], 271712u);
  EXPECT_EQ(j["workspace"]["buffers"][0]["name"], "hidden");
  EXPECT_EQ(j["workspace"]["buffers"][0]["bytes"], 25600u);
  EXPECT_EQ(j["planned_bytes"], 929376u);
  EXPECT_EQ(j["overhead"]["total_bytes"], 1000000u);
  EXPECT_EQ(j["overhead"]["calibrated"], false);
  EXPECT_EQ(j["total_bytes"], 1929376u);
  EXPECT_EQ(j["available"]["bytes"], 2000000u);
  EXPECT_EQ(j["available"]["source"], "--memory-budget");
  EXPECT_EQ(j["verdict"]["fits"], true);
  EXPECT_EQ(j["verdict"]["headroom_bytes"], 70624u);
  EXPECT_EQ(j["max_context"]["tokens"], 123u);
  EXPECT_EQ(j["max_context"]["total_bytes_at_tokens"], 1997272u);
  EXPECT_EQ(j["max_context"]["total_bytes_at_next"], 2000224u);
  EXPECT_EQ(j["max_context"]["clamped"], false);
  EXPECT_EQ(j["run"]["context"], 100u);
  EXPECT_EQ(j["run"]["cache_type_k"], "f16");
}

TEST_F(InspectTinyLlama, DoesNotFitSaysByHowMuch) {
  CliResult r = run_mlxcel(args({"--memory-budget", "1900000"}));
  ASSERT_EQ(r.code, 0) << r.err;  // inspect reports; only the preflight refuses
  EXPECT_TRUE(contains(r.out, "DOES NOT FIT")) << r.out;
  EXPECT_TRUE(contains(r.out, "29,376 B")) << r.out;  // 1929376 - 1900000
}

TEST_F(InspectTinyLlama, MaxContextClampedToMaxPositionEmbeddings) {
  CliResult r = run_mlxcel(args({"--memory-budget", "1GiB", "--json"}));
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["max_context"]["tokens"], 1024u);
  EXPECT_EQ(j["max_context"]["clamped"], true);
  EXPECT_EQ(j["max_context"]["limit_source"], "max_position_embeddings");
}

TEST(Inspect, CtxSizeIsTheSameAsMaxTokens) {
  TempDir dir;
  write_tiny_llama(dir.path() / "m");
  CliResult r = run_mlxcel({"inspect", (dir.path() / "m").string(), "--ctx-size", "300",
                            "--memory-budget", "1GiB", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["run"]["context"], 300u);
  EXPECT_EQ(j["kv"]["total_bytes"], 76800u);  // 256 x 300
}

TEST_F(InspectTinyLlama, BatchMultipliesKvAndLogits) {
  CliResult r = run_mlxcel(args({"--batch", "3", "--memory-budget", "1GiB", "--json"}));
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["kv"]["total_bytes"], 76800u);  // 256 x 100 x 3
  EXPECT_EQ(j["run"]["sequences"], 3u);
}

TEST_F(InspectTinyLlama, QuantizedKvTypeTheHeadDimCannotHoldIsExit2) {
  // head_dim 16 is half a q8_0 block of 32.
  CliResult r = run_mlxcel(args({"--cache-type-k", "q8_0"}));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "q8_0")) << r.err;
  EXPECT_TRUE(contains(r.err, "k_head_dim, 16")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(InspectTinyLlama, AdviceListsInvalidKvTypesWithTheReason) {
  CliResult r = run_mlxcel(args({"--memory-budget", "1GiB", "--json"}));
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  bool saw_q4_0 = false;
  for (const auto& o : j["advice"]["kv_cache_types"]) {
    if (o["name"] == "q4_0") {
      saw_q4_0 = true;
      EXPECT_EQ(o["valid"], false);
      EXPECT_TRUE(contains(o["problem"].get<std::string>(), "block of 32")) << o;
    }
    if (o["name"] == "f16") {
      EXPECT_EQ(o["valid"], true);
    }
  }
  EXPECT_TRUE(saw_q4_0);
}

TEST_F(InspectTinyLlama, BadCacheTypeNameIsExit2) {
  CliResult r = run_mlxcel(args({"--cache-type-k", "q3"}));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "--cache-type-k")) << r.err;
  EXPECT_TRUE(contains(r.err, "'q3'")) << r.err;
}

TEST_F(InspectTinyLlama, BadMemoryBudgetIsExit2) {
  CliResult r = run_mlxcel(args({"--memory-budget", "12XB"}));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "--memory-budget")) << r.err;
  EXPECT_TRUE(contains(r.err, "12XB")) << r.err;
}

TEST_F(InspectTinyLlama, ZeroMaxTokensIsExit2) {
  CliResult r = run_mlxcel(args({"--max-tokens", "0"}));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "--max-tokens")) << r.err;
}

TEST_F(InspectTinyLlama, NonNumericBatchIsExit2) {
  CliResult r = run_mlxcel(args({"--batch", "two"}));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "--batch")) << r.err;
  EXPECT_TRUE(contains(r.err, "'two'")) << r.err;
}

TEST_F(InspectTinyLlama, BadQuantIsExit2) {
  CliResult r = run_mlxcel(args({"--quant", "mlx-7bit-g64"}));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "--quant")) << r.err;
  EXPECT_TRUE(contains(r.err, "mlx-7bit-g64")) << r.err;
}

TEST_F(InspectTinyLlama, MalformedCalibrationProfileIsExit2) {
  write_text(dir.file("profile.json"), R"({"schema_version": 1, "calibrated": false})");
  CliResult r = run_mlxcel(args({}));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "profile.json")) << r.err;
  EXPECT_TRUE(contains(r.err, "provenance")) << r.err;
}

// MLX 4-bit, group 64, scales and biases in the model's f32: a quantized [out, in] weight is
// out x in / 2 packed bytes + 2 x out x (in / 64) x 4. Layers whose input width is not a multiple
// of 64 stay float (MLX skips them): down_proj (in 176) stays 64 x 176 x 4 = 45056.
//   embeddings, lm_head [512, 64]: 16384 + 4096 = 20480 each
//   q, o [64, 64]: 2048 + 512 = 2560 each; k, v [32, 64]: 1024 + 256 = 1280 each -> 7680/layer
//   gate, up [176, 64]: 5632 + 1408 = 7040 each; + down 45056 -> 59136/layer
//   norms 2 x 64 x 4 = 512/layer, final 256
//   total 2 x 20480 + 2 x (7680 + 59136 + 512) + 256 = 175872
TEST_F(InspectTinyLlama, QuantWhatIfIsAnalytic) {
  CliResult r = run_mlxcel(args({"--quant", "4bit", "--memory-budget", "1GiB", "--json"}));
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["model"]["source"], "analytic");
  EXPECT_EQ(j["model"]["quantization"]["method"], "mlx");
  EXPECT_EQ(j["model"]["quantization"]["bits"], 4u);
  EXPECT_EQ(j["run"]["quant"], "4bit");
  EXPECT_EQ(j["weights"]["total_bytes"], 175872u);
}

TEST(Inspect, ShardedModelGivesTheSameWeights) {
  TempDir dir;
  write_tiny_llama(dir.path() / "m", 3);
  CliResult r = run_mlxcel({"inspect", (dir.path() / "m").string(), "--memory-budget", "1GiB",
                            "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["weights"]["total_bytes"], 632064u);
  EXPECT_EQ(j["model"]["files"].size(), 3u);
}

TEST(Inspect, GgufModelGivesTheSameWeights) {
  TempDir dir;
  write_tiny_llama_gguf(dir.file("tiny.gguf"));
  CliResult r = run_mlxcel({"inspect", dir.file("tiny.gguf"), "--max-tokens", "100",
                            "--memory-budget", "1GiB", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["model"]["format"], "gguf");
  EXPECT_EQ(j["weights"]["total_bytes"], 632064u);
  EXPECT_EQ(j["kv"]["total_bytes"], 25600u);
}

TEST(Inspect, ConfigOnlyLlama405bIsAnalytic) {
  // Llama-3.1-405B: 126 layers x 8 KV heads x (256 + 256) B = 516096 B/token at f16; the
  // default context is min(131072, 4096) = 4096 -> 516096 x 4096 = 2113929216.
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "m");
  std::filesystem::copy_file(testdata("configs/meta-llama__Llama-3.1-405B/config.json"),
                             dir.path() / "m/config.json");
  CliResult r = run_mlxcel({"inspect", (dir.path() / "m").string(), "--memory-budget", "1TiB",
                            "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["model"]["source"], "analytic");
  EXPECT_EQ(j["run"]["context"], 4096u);
  EXPECT_EQ(j["kv"]["bytes_per_token"], 516096u);
  EXPECT_EQ(j["kv"]["total_bytes"], 2113929216u);
}

TEST(Inspect, Sparse405bShardedModelReadsOnlyHeaders) {
  // Llama-3.1-405B's tensors (from the registry) in 30 sparse shards of real size: 811.7 GB
  // apparent, a few KB each on disk. 405,853,388,800 parameters x 2 B = 811,706,777,600 B
  // (see tests/io/safetensors_test.cpp for the sum).
  TempDir dir;
  const auto m = dir.path() / "m";
  std::filesystem::create_directories(m);
  const std::string config = testdata("configs/meta-llama__Llama-3.1-405B/config.json");
  std::filesystem::copy_file(config, m / "config.json");
  ModelSpec spec = analytic_spec(read_config_json(config));
  constexpr int kShards = 30;
  std::vector<std::vector<SafetensorsTensorData>> shards(kShards);
  std::map<std::string, std::string> weight_map;
  for (size_t i = 0; i < spec.tensors.size(); ++i) {
    const auto& t = spec.tensors[i];
    size_t s = i * kShards / spec.tensors.size();
    std::string name = "model-" + std::to_string(100 + s) + ".safetensors";
    shards[s].push_back({t.name, t.dtype, t.shape, nullptr});
    weight_map[t.name] = name;
  }
  for (int s = 0; s < kShards; ++s)
    write_safetensors((m / ("model-" + std::to_string(100 + s) + ".safetensors")).string(),
                      shards[s]);
  write_safetensors_index((m / "model.safetensors.index.json").string(), 811706777600u,
                          weight_map);
  CliResult r = run_mlxcel({"inspect", m.string(), "--memory-budget", "1TiB", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["model"]["source"], "exact");
  EXPECT_EQ(j["model"]["files"].size(), 30u);
  EXPECT_EQ(j["weights"]["total_bytes"], 811706777600u);
  EXPECT_LT(j["model"]["header_bytes_read"].get<uint64_t>(), 30u << 20);  // < 1 MiB per shard
  EXPECT_EQ(j["kv"]["bytes_per_token"], 516096u);  // 126 x 8 x (256 + 256)
}

TEST(Inspect, MissingModelIsExit2) {
  CliResult r = run_mlxcel({"inspect", "/nonexistent/model-dir"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "/nonexistent/model-dir")) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(Inspect, MalformedModelFileIsExit2) {
  // A safetensors file whose header length (1 MiB) runs past the end of the 16-byte file.
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "m");
  write_text(dir.file("m/config.json"), kTinyLlamaConfig);
  std::string bad(16, '\0');
  bad[2] = 0x10;  // little-endian 0x100000
  write_text(dir.file("m/model.safetensors"), bad);
  CliResult r = run_mlxcel({"inspect", (dir.path() / "m").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "model.safetensors")) << r.err;
}

TEST(Inspect, DefaultModelOrAClearError) {
  CliResult r = run_mlxcel({"inspect", "--memory-budget", "1GiB"});
  if (std::filesystem::exists(std::string(MLXCEL_SOURCE_DIR) + "/models/stories260K")) {
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "stories260K")) << r.out;
  } else {
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(contains(r.err, "default model directory")) << r.err;
  }
}

TEST(Help, RootHelpListsInspect) {
  CliResult r = run_mlxcel({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(contains(r.out, "inspect")) << r.out;
  EXPECT_TRUE(contains(r.out, "Plan the memory a model needs")) << r.out;
}

TEST(Help, InspectHelpNamesEveryOption) {
  CliResult r = run_mlxcel({"inspect", "--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* opt : {"MODEL", "--max-tokens", "--batch", "--quant", "--cache-type-k",
                          "--cache-type-v", "--prefill-chunk", "--threads", "--memory-budget",
                          "--calibration", "--json", "q5_1", "mlx-<N>bit-g<G>", "Exit codes"})
    EXPECT_TRUE(contains(r.out, opt)) << opt << "\n" << r.out;
}

TEST(Help, UnknownOptionIsExit2) {
  CliResult r = run_mlxcel({"inspect", "--bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err + r.out, "--bogus"));
}
