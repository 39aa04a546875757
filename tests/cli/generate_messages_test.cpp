// What generate tells the user beyond the text: a context past the trained length, a context that
// fills before --max-tokens, a one-token run, and a single .safetensors file as MODEL.
#include <gtest/gtest.h>

#include "cli/cli_util.h"

using namespace mlxcel::test;

namespace {

// stories260K: max_position_embeddings 512, a SentencePiece-style tokenizer.json beside it.
const std::string kModel = std::string(MLXCEL_SOURCE_DIR) + "/models/stories260K";

CliResult generate(std::vector<std::string> extra) {
  std::vector<std::string> a = {"generate", kModel, "--prompt", "Once upon a time", "--threads", "1", "--no-echo"};
  a.insert(a.end(), extra.begin(), extra.end());
  return run_mlxcel(a);
}

}  // namespace

TEST(GenerateMessages, ContextBeyondTheTrainedLengthIsPlannedWithAWarning) {
  CliResult r = generate({"--ctx-size", "600", "--max-tokens", "2"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "warning: [plan] context 600 exceeds the model's max_position_embeddings 512")) << r.err;
  CliResult within = generate({"--ctx-size", "512", "--max-tokens", "2"});
  EXPECT_EQ(within.code, 0) << within.err;
  EXPECT_FALSE(contains(within.err, "max_position_embeddings")) << within.err;
  CliResult inspect = run_mlxcel({"inspect", kModel, "--json", "-c", "600"});
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  const auto warnings = nlohmann::json::parse(inspect.out)["warnings"];
  ASSERT_EQ(warnings.size(), 1u) << warnings;
  EXPECT_TRUE(contains(warnings[0].get<std::string>(), "exceeds the model's max_position_embeddings 512"));
}

TEST(GenerateMessages, AFullContextEndsTheRunWithALine) {
  CliResult r = generate({"--ctx-size", "12", "--max-tokens", "100", "--ignore-eos"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "(stopped: the context of 12 tokens is full; raise --ctx-size for more)")) << r.err;
}

TEST(GenerateMessages, OneTokenSaysItCameFromThePrompt) {
  CliResult r = generate({"-n", "1", "--ignore-eos"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "decode: 1 token from the prompt's logits, no decode pass")) << r.err;
  EXPECT_FALSE(contains(r.err, "0.0 tokens/s")) << r.err;
}

TEST(GenerateMessages, ASafetensorsFileFindsTheTokenizerBesideIt) {
  CliResult r = run_mlxcel({"generate", kModel + "/model.safetensors", "--prompt", "Once", "--max-tokens", "3",
                            "--threads", "1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Once")) << r.out;
}

TEST(ServeHelp, NumericAndSizeOptionsShowTheirType) {
  CliResult r = run_mlxcel({"serve", "--help"});
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* s : {"--parallel N", "--ctx-size N", "--queue-size N", "--max-body SIZE", "--threads N",
                        "--prefill-chunk N", "--port PORT", "--memory-budget SIZE"}) {
    EXPECT_TRUE(contains(r.out, s)) << s << "\n" << r.out;
  }
  EXPECT_FALSE(contains(r.out, "--parallel TEXT")) << r.out;
}

TEST(GenerateMessages, OutOfRangeSamplingValuesAreUsageErrors) {
  for (const std::vector<std::string> bad : {std::vector<std::string>{"--temp", "-1"}, {"--top-p", "0"},
                                             {"--min-p", "1.5"}, {"--repeat-penalty", "0"}}) {
    CliResult r = generate(bad);
    EXPECT_EQ(r.code, 2) << bad[0] << " " << r.err;
    EXPECT_TRUE(contains(r.err, "(" + bad[0] + ", ")) << r.err;
  }
}
