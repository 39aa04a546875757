// generate --chat / --system / -i through the binary, on the embedded stories260K model: the
// template (or the announced fallback), turns from stdin, the KV cache reused between turns.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "cli/cli_util.h"

using namespace mlxcel::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kStories = std::string(MLXCEL_SOURCE_DIR) + "/models/stories260K";

// stories260K with a ChatML-style template beside it.
std::string model_with_template(TempDir& dir) {
  const std::string m = dir.file("m");
  fs::create_directories(m);
  for (const auto& e : fs::directory_iterator(kStories)) fs::copy(e.path(), m + "/" + e.path().filename().string());
  write_text(m + "/chat_template.jinja",
             "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}"
             "{% if add_generation_prompt %}<|assistant|>\n{% endif %}");
  return m;
}

}  // namespace

TEST(GenerateChat, WithoutATemplateTheFallbackIsAnnounced) {
  CliResult r = run_mlxcel({"generate", kStories, "--chat", "--system", "Be brief.", "--prompt", "Hello",
                            "--max-tokens", "6", "--threads", "1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "has no chat template")) << r.err;
  EXPECT_TRUE(contains(r.err, "[chat] turn 1: prompt")) << r.err;
  // The conversation's context is planned, not just prompt + --max-tokens.
  EXPECT_TRUE(contains(r.err, "context 512 tokens (the conversation")) << r.err;
}

TEST(GenerateChat, ChatNeedsAMessage) {
  CliResult r = run_mlxcel({"generate", kStories, "--chat"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "--chat needs the user's message")) << r.err;
}

TEST(GenerateChat, InteractiveTurnsFromStdinReuseTheKvCache) {
  TempDir dir;
  const std::string m = model_with_template(dir);
  const std::string stats = dir.file("stats.json");
  CliResult r = run_command("printf 'Tell me a story\\nWhat happened next?\\n' | " + shell_quote(MLXCEL_BINARY) +
                            " generate " + shell_quote(m) + " -i --system 'You tell stories.' --max-tokens 12"
                            " --ignore-eos --threads 1 --json-stats " + shell_quote(stats));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "[chat] template: ")) << r.err;
  const json doc = json::parse(read_text(stats));
  const json& turns = doc["generation"]["turns"];
  ASSERT_EQ(turns.size(), 2u) << doc["generation"];
  // Turn 2's rendering starts with turn 1's prompt: all of it comes from the cache.
  const uint64_t first_prompt = turns[0]["prompt_tokens"];
  EXPECT_EQ(turns[0]["reused_tokens"], 0);
  EXPECT_GE(turns[1]["reused_tokens"].get<uint64_t>(), first_prompt) << doc["generation"];
  EXPECT_GT(turns[1]["prompt_tokens"].get<uint64_t>(), first_prompt + 12);
  EXPECT_EQ(turns[1]["generated_tokens"], 12);
  EXPECT_TRUE(contains(r.err, "[chat] turn 2: prompt")) << r.err;
}
