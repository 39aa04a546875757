// `mlxcel convert` and `make-random-model` write a whole model directory or nothing: a failure
// part way (a bad tokenizer, a tensor that cannot be quantized) leaves no directory that inspect
// or generate would take for a model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "cli/cli_util.h"

using namespace mlxcel;
using namespace mlxcel::test;

namespace {

namespace fs = std::filesystem;

class Convert : public ::testing::Test {
 protected:
  // Entries of the temp dir other than the inputs a test wrote: the output and any leftovers.
  std::vector<std::string> leftovers(const std::vector<std::string>& inputs) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir.path())) {
      const std::string name = e.path().filename().string();
      if (std::find(inputs.begin(), inputs.end(), name) == inputs.end()) out.push_back(name);
    }
    return out;
  }
  TempDir dir;
  std::string src = testdata("stories260K-llama2c");
};

// A llama2.c tokenizer cut after `keep` whole entries (int32 max_len, then per token float score,
// int32 length, bytes).
std::string first_tokens(const std::string& tok, size_t keep) {
  size_t off = 4;
  for (size_t i = 0; i < keep; ++i) {
    int32_t len = 0;
    std::memcpy(&len, tok.data() + off + 4, 4);
    off += 8 + static_cast<size_t>(len);
  }
  return tok.substr(0, off);
}

TEST_F(Convert, Llama2cTruncatedTokenizerLeavesNothing) {
  const std::string tok = read_text(src + "/tok512.bin");
  write_text(dir.file("bad_tok.bin"), tok.substr(0, tok.size() - 3));  // last entry cut short
  CliResult r = run_mlxcel({"convert", "--llama2c", src + "/stories260K.bin", "--tokenizer",
                            dir.file("bad_tok.bin"), "--out", dir.file("out")});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, dir.file("bad_tok.bin"))) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("out")));
  EXPECT_EQ(leftovers({"bad_tok.bin"}), std::vector<std::string>{});
  // Before, config.json + model.safetensors were left and inspect took them for a model.
  EXPECT_EQ(run_mlxcel({"inspect", dir.file("out")}).code, 2);
}

TEST_F(Convert, Llama2cTokenizerWithFewerTokensThanTheVocabulary) {
  write_text(dir.file("short_tok.bin"), first_tokens(read_text(src + "/tok512.bin"), 300));
  CliResult r = run_mlxcel({"convert", "--llama2c", src + "/stories260K.bin", "--tokenizer",
                            dir.file("short_tok.bin"), "--out", dir.file("out")});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "[convert] tokenizer has 300 tokens but the checkpoint's vocab_size is 512 (" +
                                  dir.file("short_tok.bin") + ", vocab_size, 300)"))
      << r.err;
  EXPECT_EQ(leftovers({"short_tok.bin"}), std::vector<std::string>{});
}

TEST_F(Convert, Llama2cIntoAnExistingDirectoryKeepsItsOtherFiles) {
  fs::create_directories(dir.file("out"));
  write_text(dir.file("out/README.md"), "mine");
  CliResult r = run_mlxcel({"convert", "--llama2c", src + "/stories260K.bin", "--tokenizer",
                            src + "/tok512.bin", "--out", dir.file("out")});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.file("out"))) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"README.md", "config.json", "model.safetensors", "tokenizer.json",
                                             "tokenizer_config.json"}));
  EXPECT_EQ(leftovers({}), std::vector<std::string>{"out"});
}

// A U32 tensor late in the file makes quantize stop after it has written a shard (the shard
// limit of 1000 bytes flushes after the first tensor).
TEST_F(Convert, QuantizeFailurePartWayLeavesNothing) {
  fs::create_directories(dir.file("in"));
  write_text(dir.file("in/config.json"), kTinyLlamaConfig);
  std::vector<float> w(64 * 64, 0.5f);
  std::vector<uint32_t> packed(16, 0);
  write_safetensors(dir.file("in/model.safetensors"),
                    {{"a.weight", DType::F32, {64, 64}, w.data()}, {"b.weight", DType::F32, {64, 64}, w.data()},
                     {"z.weight", DType::U32, {4, 4}, packed.data()}});
  CliResult r = run_mlxcel({"convert", "--quantize", "4bit", dir.file("in"), "--max-shard-size", "1000", "--out",
                            dir.file("out")});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "model is already quantized (" + dir.file("in/model.safetensors") + ", z.weight)"))
      << r.err;
  EXPECT_EQ(leftovers({"in"}), std::vector<std::string>{});
}

// A directory where tokenizer.json goes: the writes used to stop there with model.safetensors and
// config.json already in place.
TEST_F(Convert, MakeRandomModelFailedWriteLeavesNoPartialModel) {
  fs::create_directories(dir.file("out/tokenizer.json"));
  CliResult r = run_mlxcel({"make-random-model", testdata("configs/HuggingFaceTB__SmolLM2-135M/config.json"),
                            "--out", dir.file("out"), "--layers", "1", "--hidden", "64", "--heads", "4",
                            "--kv-heads", "2", "--intermediate", "96", "--vocab", "300"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot replace directory " + dir.file("out/tokenizer.json"))) << r.err;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.file("out"))) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"tokenizer.json"});
  EXPECT_EQ(leftovers({}), std::vector<std::string>{"out"});
}

TEST_F(Convert, MakeRandomModelWritesTheWholeDirectory) {
  CliResult r = run_mlxcel({"make-random-model", testdata("configs/HuggingFaceTB__SmolLM2-135M/config.json"),
                            "--out", dir.file("out"), "--layers", "1", "--hidden", "64", "--heads", "4",
                            "--kv-heads", "2", "--intermediate", "96", "--vocab", "300"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.file("out"))) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"config.json", "model.safetensors", "tokenizer.json",
                                             "tokenizer_config.json"}));
  EXPECT_EQ(leftovers({}), std::vector<std::string>{"out"});
}

}  // namespace
