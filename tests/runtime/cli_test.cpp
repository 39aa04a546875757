// The runtime's subcommands through the mlxcel binary: exit codes and output. Skipped when the
// binary has not been built (test_runtime does not depend on it).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "support/test_paths.h"

namespace {

namespace fs = std::filesystem;

struct CliRun {
  int code = -1;
  std::string out;
};

CliRun run(const std::string& args) {
  const std::string cmd = std::string(MLXCEL_BINARY) + " " + args + " 2>/dev/null";
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class RuntimeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(MLXCEL_BINARY)) GTEST_SKIP() << "mlxcel binary not built";
  }
  mlxcel::test::TempDir dir;
  std::string src = mlxcel::test::testdata("stories260K-llama2c");
};

TEST_F(RuntimeCli, GenerateDefaultModelGreedy) {
  CliRun r = run("generate --max-tokens 20 --threads 1");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("Once upon a time, there was a little girl named Lily", 0), 0u) << r.out;
}

TEST_F(RuntimeCli, GeneratePreflightRefusesAHugeContext) {
  // stories260K: 5 layers x 4 kv heads x (8 + 8) f16 values x 2 bytes = 640 B per token; 2^31
  // tokens need 1.25 TiB of KV cache.
  CliRun r = run("generate --ctx-size 2147483648 --max-tokens 1");
  EXPECT_EQ(r.code, 3);
}

TEST_F(RuntimeCli, GenerateUnknownCacheTypeIsUsageError) {
  EXPECT_EQ(run("generate --cache-type-k q3 --max-tokens 1").code, 2);
}

TEST_F(RuntimeCli, ConvertTruncatedCheckpointExits2) {
  std::ifstream f(src + "/stories260K.bin", std::ios::binary);
  std::vector<char> bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  bytes.resize(1000);
  std::ofstream(dir.file("bad.bin"), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  CliRun r = run("convert --llama2c " + dir.file("bad.bin") + " --tokenizer " + src + "/tok512.bin --out " + dir.file("o"));
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(dir.file("o/model.safetensors")));
}

TEST_F(RuntimeCli, ConvertNegativeDimExits2) {
  std::ifstream f(src + "/stories260K.bin", std::ios::binary);
  std::vector<char> bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  const int32_t neg = -8;
  std::memcpy(bytes.data() + 12, &neg, 4);  // n_heads
  std::ofstream(dir.file("bad.bin"), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_EQ(run("convert --llama2c " + dir.file("bad.bin") + " --tokenizer " + src + "/tok512.bin --out " + dir.file("o")).code, 2);
}

TEST_F(RuntimeCli, ConvertQuantizeThenGenerate) {
  ASSERT_EQ(run("convert --llama2c " + src + "/stories260K.bin --tokenizer " + src + "/tok512.bin --out " + dir.file("f32")).code, 0);
  // dim 64 rows quantize at group 64; down_proj (172 wide) stays f32.
  ASSERT_EQ(run("convert --quantize 8bit --group-size 64 " + dir.file("f32") + " --out " + dir.file("q8")).code, 0);
  EXPECT_TRUE(fs::exists(dir.file("q8/model.safetensors.index.json")));
  CliRun r = run("generate " + dir.file("q8") + " --max-tokens 8 --threads 1");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("Once upon a time", 0), 0u) << r.out;
}

TEST_F(RuntimeCli, MakeRandomModelAndGenerate) {
  const std::string cfg = mlxcel::test::testdata("configs/HuggingFaceTB__SmolLM2-135M/config.json");
  ASSERT_EQ(run("make-random-model " + cfg + " --out " + dir.file("r") +
                " --dtype f16 --quantize 4bit --group-size 32 --layers 2 --hidden 64 --heads 4 --kv-heads 2"
                " --intermediate 96 --vocab 300 --seed 3")
                .code,
            0);
  CliRun r = run("generate " + dir.file("r") + " --prompt hi --max-tokens 4 --temp 0.7 --seed 5 --threads 1");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("hi", 0), 0u);
}

TEST_F(RuntimeCli, MakeRandomModelTinyVocabIsUsageError) {
  const std::string cfg = mlxcel::test::testdata("configs/HuggingFaceTB__SmolLM2-135M/config.json");
  EXPECT_EQ(run("make-random-model " + cfg + " --out " + dir.file("r") + " --vocab 100").code, 2);
}

}  // namespace

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST_F(RuntimeCli, MakeRandomModelOverridesANestedTextConfigAndItsLayerPatterns) {
  // Qwen3.5-27B keeps its text settings in text_config (64 layers, 3 linear : 1 full); the
  // overrides must land there, or the writer would make the whole 27B model.
  const std::string cfg = mlxcel::test::testdata("configs/Qwen__Qwen3.5-27B/config.json");
  ASSERT_EQ(run("make-random-model " + cfg + " --out " + dir.file("q") +
                " --layers 4 --hidden 128 --heads 2 --kv-heads 1 --intermediate 256 --vocab 300")
                .code,
            0);
  const nlohmann::json c = read_json(dir.file("q") + "/config.json");
  const nlohmann::json& t = c["text_config"];
  EXPECT_EQ(t["num_hidden_layers"], 4);
  EXPECT_EQ(t["hidden_size"], 128);
  EXPECT_EQ(t["vocab_size"], 300);
  ASSERT_EQ(t["layer_types"].size(), 4u);
  EXPECT_EQ(t["layer_types"][3], "full_attention");
  EXPECT_EQ(t["eos_token_id"], 257);
  // inspect plans what was written: 4 layers, and the file's own weights.
  CliRun plan = run("inspect " + dir.file("q") + " --json");
  ASSERT_EQ(plan.code, 0);
  const nlohmann::json p = nlohmann::json::parse(plan.out);
  EXPECT_EQ(p["model"]["layers"], 4);
  EXPECT_LT(p["weights"]["total_bytes"].get<uint64_t>(), 400u << 20);
}

TEST_F(RuntimeCli, MakeRandomModelRefusesWhatWouldNotFitBeforeWriting) {
  // Llama 3.1 405B in bf16 is ~810 GB: planned, refused with exit 3, nothing written.
  const std::string cfg = mlxcel::test::testdata("configs/meta-llama__Llama-3.1-405B/config.json");
  EXPECT_EQ(run("make-random-model " + cfg + " --out " + dir.file("big")).code, 3);
  EXPECT_FALSE(fs::exists(dir.file("big")));
}

}  // namespace
