// Finding a model's chat template and special tokens, the fallback format, and the context
// transformers builds.
#include <gtest/gtest.h>

#include <fstream>

#include "mlxcel/errors.h"
#include "render_helpers.h"
#include "support/test_paths.h"

using namespace mlxcel::templates;
using namespace mlxcel::templates::testing;
namespace fs = std::filesystem;

namespace {

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

const json kChat = json::parse(R"([
  {"role": "system", "content": "Be brief."},
  {"role": "user", "content": "  Hi  "},
  {"role": "assistant", "content": [{"type": "text", "text": "Hello"}, {"type": "image"}, {"type": "text", "text": "there"}]},
  {"role": "tool", "content": null}
])");

}  // namespace

TEST(FindChatTemplate, StringInTokenizerConfig) {
  mlxcel::test::TempDir dir;
  write(dir.file("tokenizer_config.json"), R"({"bos_token": "<s>", "chat_template": "{{ 'T' }}"})");
  const auto t = find_chat_template(dir.path());
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->source, "{{ 'T' }}");
  EXPECT_EQ(t->origin, dir.file("tokenizer_config.json"));
  EXPECT_FALSE(t->fallback);
}

TEST(FindChatTemplate, NamedListPicksDefaultOrTheAskedName) {
  mlxcel::test::TempDir dir;
  write(dir.file("tokenizer_config.json"),
        R"({"chat_template": [{"name": "tool_use", "template": "TOOLS"}, {"name": "default", "template": "PLAIN"}]})");
  EXPECT_EQ(find_chat_template(dir.path())->source, "PLAIN");
  EXPECT_EQ(find_chat_template(dir.path(), "tool_use")->source, "TOOLS");
  EXPECT_EQ(find_chat_template(dir.path(), "tool_use")->origin, dir.file("tokenizer_config.json") + "#tool_use");
}

TEST(FindChatTemplate, NamedListWithoutTheNameIsAConfigError) {
  mlxcel::test::TempDir dir;
  write(dir.file("tokenizer_config.json"), R"({"chat_template": [{"name": "rag", "template": "R"}]})");
  try {
    find_chat_template(dir.path());
    FAIL() << "expected ConfigError";
  } catch (const mlxcel::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no chat template named 'default'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("available: rag"), std::string::npos);
  }
}

TEST(FindChatTemplate, ListEntryWithoutTemplateIsAConfigError) {
  mlxcel::test::TempDir dir;
  write(dir.file("tokenizer_config.json"), R"({"chat_template": [{"name": "default"}]})");
  EXPECT_THROW(find_chat_template(dir.path()), mlxcel::ConfigError);
}

TEST(FindChatTemplate, NumberInsteadOfTemplateIsAConfigError) {
  mlxcel::test::TempDir dir;
  write(dir.file("tokenizer_config.json"), R"({"chat_template": 7})");
  EXPECT_THROW(find_chat_template(dir.path()), mlxcel::ConfigError);
}

TEST(FindChatTemplate, InvalidJsonIsAFormatError) {
  mlxcel::test::TempDir dir;
  write(dir.file("tokenizer_config.json"), R"({"chat_template": "x",)");
  try {
    find_chat_template(dir.path());
    FAIL() << "expected FormatError";
  } catch (const mlxcel::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos);
  }
}

TEST(FindChatTemplate, JinjaFileWinsOverTokenizerConfig) {
  mlxcel::test::TempDir dir;
  write(dir.file("tokenizer_config.json"), R"({"chat_template": "FROM CONFIG"})");
  write(dir.file("chat_template.jinja"), "FROM JINJA");
  EXPECT_EQ(find_chat_template(dir.path())->source, "FROM JINJA");
}

TEST(FindChatTemplate, ChatTemplateJsonOfProcessors) {
  // gemma-3 ships its template only in chat_template.json.
  const auto t = find_chat_template(mlxcel::test::testdata("chat-templates-onnxruntime-extensions/gemma-3"));
  ASSERT_TRUE(t.has_value());
  EXPECT_NE(t->source.find("<start_of_turn>"), std::string::npos);
}

TEST(FindChatTemplate, NoTemplateMeansFallback) {
  mlxcel::test::TempDir dir;
  write(dir.file("tokenizer_config.json"), R"({"bos_token": "<s>"})");
  EXPECT_FALSE(find_chat_template(dir.path()).has_value());
  const ChatTemplateSource t = load_chat_template(dir.path());
  EXPECT_TRUE(t.fallback);
  EXPECT_EQ(t.origin, "builtin fallback");
  EXPECT_EQ(t.source, kFallbackChatTemplate);
}

TEST(SpecialTokens, StringsAndAddedTokenObjects) {
  mlxcel::test::TempDir dir;
  write(dir.file("tokenizer_config.json"),
        R"({"bos_token": {"content": "<|begin|>", "lstrip": false}, "eos_token": "<|end|>", "pad_token": null})");
  EXPECT_EQ(load_special_tokens(dir.path()).dump(), R"({"bos_token":"<|begin|>","eos_token":"<|end|>"})");
}

TEST(SpecialTokens, FallBackToSpecialTokensMap) {
  mlxcel::test::TempDir dir;
  write(dir.file("tokenizer_config.json"), R"({"eos_token": "</s>"})");
  write(dir.file("special_tokens_map.json"), R"({"bos_token": {"content": "<s>"}, "eos_token": "ignored", "unk_token": "<unk>"})");
  EXPECT_EQ(load_special_tokens(dir.path()).dump(), R"({"eos_token":"</s>","bos_token":"<s>","unk_token":"<unk>"})");
}

TEST(Fallback, PlainRoleColonFormat) {
  // "System: Be brief.\n\n" + "User: Hi\n\n" (content trimmed) + "Assistant: Hello\nthere\n\n"
  // (text parts joined, the image part dropped) + "Tool: \n\n" (null content) + "Assistant:".
  EXPECT_EQ(render(kFallbackChatTemplate, make_chat_context(kChat, true)),
            "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello\nthere\n\nTool: \n\nAssistant:");
}

TEST(Fallback, BosTokenAndNoGenerationPrompt) {
  const json one = json::parse(R"([{"role": "user", "content": "Q"}])");
  EXPECT_EQ(render(kFallbackChatTemplate, make_chat_context(one, false, nullptr, json{{"bos_token", "<s>"}})),
            "<s>User: Q\n\n");
}

TEST(ChatContext, KeysInTransformersOrderWithExtrasLast) {
  const json ctx = make_chat_context(json::array(), true, nullptr, json{{"bos_token", "<s>"}},
                                     json{{"enable_thinking", false}, {"add_generation_prompt", false}});
  EXPECT_EQ(ctx.dump(),
            R"({"messages":[],"tools":null,"documents":null,"add_generation_prompt":false,"bos_token":"<s>","enable_thinking":false})");
}

TEST(TemplateObject, ReusableAndKeyOrderFollowsTheJsonType) {
  Template t("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}");
  const json ordered = json::parse(R"({"d": {"b": 1, "a": 2}})");
  EXPECT_EQ(t.render(ordered), "b=1;a=2;");
  EXPECT_EQ(t.render(ordered), "b=1;a=2;");
  // nlohmann::json keeps objects sorted by key.
  EXPECT_EQ(t.render(nlohmann::json::parse(R"({"d": {"b": 1, "a": 2}})")), "a=2;b=1;");
  EXPECT_EQ(render_chat_template("{{ x }}", nlohmann::json{{"x", 1.5}}), "1.5");
}

TEST(TemplateObject, RealTemplateWithAToolCall) {
  // Qwen2.5's template (onnxruntime-extensions copy) for one user turn and a tool call; the
  // expected text follows the template by hand: default system prompt, tool call as JSON.
  const auto src = find_chat_template(mlxcel::test::testdata("chat-templates-onnxruntime-extensions/qwen2.5"));
  ASSERT_TRUE(src.has_value());
  const json messages = json::parse(R"([
    {"role": "user", "content": "Weather?"},
    {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get", "arguments": {"city": "Oslo"}}}]}
  ])");
  EXPECT_EQ(render(src->source, make_chat_context(messages, false)),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nWeather?<|im_end|>\n"
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call><|im_end|>\n");
}
