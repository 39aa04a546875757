// The shipped default model: models/stories260K (converted from Karpathy's llama2.c stories260K).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "arch/registry.h"
#include "runtime/convert.h"
#include "runtime/generate.h"
#include "runtime/model.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

namespace mlxcel::runtime {
namespace {

std::string stories_dir() { return std::string(MLXCEL_SOURCE_DIR) + "/models/stories260K"; }

std::vector<char> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(Stories260K, GreedyFromBosReproducesExpectedIds) {
  std::ifstream f(test::testdata("stories260K-llama2c/expected_greedy_from_bos.json"));
  const nlohmann::json expected = nlohmann::json::parse(f);
  const std::vector<int32_t> want = expected["generated_ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(want.size(), 256u);

  ModelSpec spec = load_model_spec(stories_dir());
  LoadOptions lo;
  lo.run.context = 512;
  lo.run.cache_type_k = KvCacheType::F32;
  lo.run.cache_type_v = KvCacheType::F32;
  lo.run.threads = 2;
  lo.progress = false;
  std::unique_ptr<Model> m = Model::load(spec, lo);
  Tokenizer tok = Tokenizer::from_path(stories_dir());
  const std::vector<int32_t> prompt = {1};
  GenerateOptions go;
  go.max_tokens = 256;
  std::string text;
  GenerateResult r = generate(*m, tok, prompt, go, [&](std::string_view s) { text += s; });
  EXPECT_EQ(r.tokens, want);
  EXPECT_EQ(text.rfind("Once upon a time, there was a little girl named Lily", 0), 0u) << text;
  EXPECT_EQ(text, expected["generated_text"].get<std::string>());
}

TEST(Stories260K, ConvertReproducesTheShippedModel) {
  test::TempDir dir;
  const std::string src = test::testdata("stories260K-llama2c");
  convert_llama2c(src + "/stories260K.bin", src + "/tok512.bin", dir.file("out"));
  for (const char* name : {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_EQ(read_all(dir.file(std::string("out/") + name)), read_all(stories_dir() + "/" + name)) << name;
  }
}

}  // namespace
}  // namespace mlxcel::runtime
