// The tool-call parser per syntax (Hermes/Qwen, Llama 3, Mistral): complete calls, several calls,
// invalid JSON and text around them; streaming token by token gives what the whole text gives;
// detection from the real templates of the shared test data.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/tool_calls.h"

namespace mlxcel::server {
namespace {

const ToolParseOptions kWeather{{"get_weather", "get_time"}, false};

ToolCallParser::Output parse(ToolFormat f, std::string_view text,
                             const ToolParseOptions& o = kWeather) {
  return parse_tool_calls(f, o, text);
}

// The same text pushed one byte at a time, outputs joined.
ToolCallParser::Output parse_bytewise(ToolFormat f, std::string_view text) {
  ToolCallParser p(f, kWeather);
  ToolCallParser::Output all;
  auto add = [&](ToolCallParser::Output o) {
    all.content += o.content;
    for (auto& c : o.calls) all.calls.push_back(std::move(c));
  };
  for (char c : text) add(p.push(std::string_view(&c, 1)));
  add(p.finish());
  return all;
}

TEST(ToolCalls, HermesOneCall) {
  const auto out =
      parse(ToolFormat::Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].name, "get_weather");
  EXPECT_EQ(out.calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(out.calls[0].id.rfind("call_", 0), 0u);
  EXPECT_EQ(out.calls[0].id.size(), 29u);
  EXPECT_EQ(out.content, "");
}

TEST(ToolCalls, HermesSeveralCallsAndTextAround) {
  const std::string text =
      "Let me check.\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}</tool_call>\n"
      "<tool_call>{\"name\":\"get_time\",\"arguments\":{\"zone\":\"CET\",\"n\":[1,{\"x\":\"}\"}]}}</tool_call>\nDone.";
  for (const auto& out : {parse(ToolFormat::Hermes, text), parse_bytewise(ToolFormat::Hermes, text)}) {
    ASSERT_EQ(out.calls.size(), 2u);
    EXPECT_EQ(out.calls[0].name, "get_weather");
    EXPECT_EQ(out.calls[1].name, "get_time");
    EXPECT_EQ(out.calls[1].arguments, R"({"zone":"CET","n":[1,{"x":"}"}]})");
    EXPECT_NE(out.calls[0].id, out.calls[1].id);
    // the whitespace between calls is dropped; the text around stays
    EXPECT_EQ(out.content, "Let me check.\nDone.");
  }
}

TEST(ToolCalls, HermesInvalidJsonStaysContent) {
  const std::string text = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": }</tool_call>";
  const auto out = parse(ToolFormat::Hermes, text);
  EXPECT_TRUE(out.calls.empty());
  EXPECT_EQ(out.content, text);
  EXPECT_EQ(parse_bytewise(ToolFormat::Hermes, text).content, text);
}

TEST(ToolCalls, HermesUnknownFunctionOrMissingNameStaysContent) {
  const std::string unknown = "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>";
  EXPECT_EQ(parse(ToolFormat::Hermes, unknown).content, unknown);
  const std::string no_name = "<tool_call>{\"arguments\": {}}</tool_call>";
  EXPECT_EQ(parse(ToolFormat::Hermes, no_name).content, no_name);
}

TEST(ToolCalls, HermesUnclosedCallAtTheEnd) {
  // A model that ends right after the JSON still called; an unfinished JSON is text.
  const auto done = parse(ToolFormat::Hermes, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n");
  ASSERT_EQ(done.calls.size(), 1u);
  EXPECT_EQ(done.calls[0].arguments, "{}");
  const auto cut = parse(ToolFormat::Hermes, "<tool_call>\n{\"name\": \"get_ti");
  EXPECT_TRUE(cut.calls.empty());
  EXPECT_EQ(cut.content, "<tool_call>\n{\"name\": \"get_ti");
}

TEST(ToolCalls, HermesStreamHoldsOnlyWhatMayBeACall) {
  ToolCallParser p(ToolFormat::Hermes, kWeather);
  // "<tool" may open a call, and the space before it would then be dropped
  EXPECT_EQ(p.push("Hello <tool").content, "Hello");
  EXPECT_EQ(p.push("box> x").content, " <toolbox> x");
  EXPECT_EQ(p.push(" <tool_call>{\"name\":").content, "");
  auto out = p.push("\"get_time\",\"arguments\":\"{\\\"a\\\":1}\"}</tool_call>");
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].arguments, R"({"a":1})");  // arguments given as a JSON string
  EXPECT_TRUE(p.called());
  EXPECT_TRUE(p.finish().empty());
}

TEST(ToolCalls, HermesArrayOfCallsAndSingleOption) {
  const std::string text =
      "<tool_call>[{\"name\":\"get_time\",\"arguments\":{}},{\"name\":\"get_weather\",\"arguments\":{}}]</tool_call>";
  EXPECT_EQ(parse(ToolFormat::Hermes, text).calls.size(), 2u);
  const auto one = parse(ToolFormat::Hermes, text, {{"get_weather", "get_time"}, true});
  ASSERT_EQ(one.calls.size(), 1u);
  EXPECT_EQ(one.calls[0].name, "get_time");
}

TEST(ToolCalls, Llama3WholeReplyIsTheCall) {
  const std::string text = " {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}";
  for (const auto& out : {parse(ToolFormat::Llama3, text), parse_bytewise(ToolFormat::Llama3, text)}) {
    ASSERT_EQ(out.calls.size(), 1u);
    EXPECT_EQ(out.calls[0].name, "get_weather");
    EXPECT_EQ(out.calls[0].arguments, R"({"city":"Paris"})");
    EXPECT_EQ(out.content, "");
  }
  const auto tagged = parse(ToolFormat::Llama3,
                            "<|python_tag|>{\"name\": \"get_time\", \"parameters\": {}}; "
                            "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}");
  ASSERT_EQ(tagged.calls.size(), 2u);
  EXPECT_EQ(tagged.calls[1].arguments, R"({"city":"Oslo"})");
}

TEST(ToolCalls, Llama3TextOrInvalidJsonIsContent) {
  ToolCallParser p(ToolFormat::Llama3, kWeather);
  EXPECT_EQ(p.push("The weather").content, "The weather");  // known at once: not a call
  EXPECT_EQ(p.push(" {\"name\"").content, " {\"name\"");
  const std::string broken = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}";
  EXPECT_EQ(parse(ToolFormat::Llama3, broken).content, broken);
  const std::string trailing = "{\"name\": \"get_time\", \"parameters\": {}} and more";
  EXPECT_EQ(parse(ToolFormat::Llama3, trailing).content, trailing);
  EXPECT_TRUE(parse(ToolFormat::Llama3, trailing).calls.empty());
}

TEST(ToolCalls, MistralJsonList) {
  const std::string text =
      "Sure.[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, "
      "{\"name\": \"get_time\", \"arguments\": {}, \"id\": \"abcdefghi\"}]";
  for (const auto& out : {parse(ToolFormat::Mistral, text), parse_bytewise(ToolFormat::Mistral, text)}) {
    ASSERT_EQ(out.calls.size(), 2u);
    EXPECT_EQ(out.calls[0].arguments, R"({"city":"Paris"})");
    EXPECT_EQ(out.calls[1].name, "get_time");
    EXPECT_EQ(out.calls[0].id.size(), 9u);  // Mistral's templates require 9-character ids
    EXPECT_EQ(out.content, "Sure.");
  }
}

TEST(ToolCalls, MistralArgsSyntaxAndInvalid) {
  const auto out = parse(ToolFormat::MistralArgs,
                         "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time"
                         "[CALL_ID]123456789[ARGS]{}");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].name, "get_weather");
  EXPECT_EQ(out.calls[1].arguments, "{}");
  const std::string bad = "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {]";
  const auto b = parse(ToolFormat::Mistral, bad);
  EXPECT_TRUE(b.calls.empty());
  EXPECT_EQ(b.content, bad);
}

TEST(ToolCalls, PrefixForRequiredAndNamed) {
  EXPECT_EQ(tool_call_prefix(ToolFormat::Hermes, "", false), "");
  EXPECT_EQ(tool_call_prefix(ToolFormat::Hermes, "", true), "<tool_call>\n");
  const std::string named = tool_call_prefix(ToolFormat::Hermes, "get_time", false);
  const auto out = parse(ToolFormat::Hermes, named + "{}}\n</tool_call>");
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].name, "get_time");
  for (ToolFormat f : {ToolFormat::Llama3, ToolFormat::Mistral, ToolFormat::MistralArgs}) {
    const std::string p = tool_call_prefix(f, "get_time", false);
    const std::string rest = f == ToolFormat::Mistral ? "{}}]" : f == ToolFormat::Llama3 ? "{}}" : "{}";
    EXPECT_EQ(parse(f, p + rest).calls.size(), 1u) << p;
  }
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ToolCalls, DetectedFromTheRealTemplates) {
  const std::filesystem::path dir = std::filesystem::path(MLXCEL_TESTDATA) / "chat-templates-llama.cpp";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no shared test data";
  auto format = [&](const char* name) { return detect_tool_format(read(dir / name)); };
  EXPECT_EQ(format("Qwen-Qwen2.5-7B-Instruct.jinja"), ToolFormat::Hermes);
  EXPECT_EQ(format("Qwen-Qwen3-0.6B.jinja"), ToolFormat::Hermes);
  EXPECT_EQ(format("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja"), ToolFormat::Hermes);
  EXPECT_EQ(format("meta-llama-Llama-3.1-8B-Instruct.jinja"), ToolFormat::Llama3);
  EXPECT_EQ(format("meta-llama-Llama-3.3-70B-Instruct.jinja"), ToolFormat::Llama3);
  EXPECT_EQ(format("mistralai-Mistral-Nemo-Instruct-2407.jinja"), ToolFormat::Mistral);
  EXPECT_EQ(format("Mistral-Small-3.2-24B-Instruct-2506.jinja"), ToolFormat::MistralArgs);
  // <tool_call> around another syntax, and templates without tools, are not claimed
  EXPECT_EQ(format("Qwen3-Coder.jinja"), ToolFormat::None);
  EXPECT_EQ(format("GLM-4.6.jinja"), ToolFormat::None);
  EXPECT_EQ(format("google-gemma-2-2b-it.jinja"), ToolFormat::None);
}

}  // namespace
}  // namespace mlxcel::server
