// Tool calls over HTTP with the test engine, scripted to reply a known text ("say:" in the last
// message): the tools reach the template, the reply becomes OpenAI's tool_calls (non-streamed and
// streamed, with finish_reason "tool_calls"), tool_choice forces a call, tool and assistant
// tool_calls messages are accepted, and malformed tools / tool_choice are 400s naming the field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server_fixture.h"
#include "test_engine.h"

namespace mlxcel::server::test {
namespace {

using nlohmann::json;

const std::string kCall =
    R"(<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>)";

json weather_tool() {
  return {{"type", "function"},
          {"function",
           {{"name", "get_weather"},
            {"description", "Current weather"},
            {"parameters",
             {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}};
}

json tool_body(const std::string& say, json extra = json::object()) {
  json j = {{"messages", {{{"role", "user"}, {"content", "say:" + say}}}},
            {"tools", json::array({weather_tool()})},
            {"max_tokens", 150}};
  j.update(extra);
  return j;
}

class ToolCallsHttpTest : public ::testing::Test {
 protected:
  json post(const json& body, int expect_status = 200) {
    auto c = server.client();
    auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, expect_status) << body.dump() << " -> " << res->body;
    return json::parse(res->body);
  }
  std::vector<json> stream(json body) { return stream_chunks(server, "/v1/chat/completions", std::move(body)); }
  void expect_400(const json& body, const std::string& param, const std::string& fragment) {
    const json j = post(body, 400);
    EXPECT_EQ(j["error"]["param"], param) << j.dump();
    EXPECT_NE(j["error"]["message"].get<std::string>().find(fragment), std::string::npos)
        << j.dump();
  }

  TestEngine engine{TestEngineOptions{.slots = 2, .context = 512}};
  RunningServer server{engine};
};

TEST_F(ToolCallsHttpTest, ReplyBecomesToolCalls) {
  const json j = post(tool_body("Checking." + kCall));
  const json& choice = j["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["content"], "Checking.");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  const json& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(call["function"]["arguments"], R"({"city":"Paris"})");
  // completion tokens count every byte of the reply and EOS
  EXPECT_EQ(j["usage"]["completion_tokens"], 9 + kCall.size() + 1);

  const json only = post(tool_body(kCall + kCall));
  EXPECT_TRUE(only["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(only["choices"][0]["message"]["tool_calls"].size(), 2u);
  const json one = post(tool_body(kCall + kCall, {{"parallel_tool_calls", false}}));
  EXPECT_EQ(one["choices"][0]["message"]["tool_calls"].size(), 1u);
}

TEST_F(ToolCallsHttpTest, InvalidCallOrPlainReplyStaysContent) {
  const std::string bad = R"(<tool_call>{"name":"get_weather","arguments":{"city":}</tool_call>)";
  const json j = post(tool_body(bad));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["choices"][0]["message"]["content"], bad);
  EXPECT_FALSE(j["choices"][0]["message"].contains("tool_calls"));
  const json plain = post(tool_body("It is sunny."));
  EXPECT_EQ(plain["choices"][0]["message"]["content"], "It is sunny.");
  // cut by max_tokens inside the call: length, the text as content
  const json cut = post(tool_body(kCall, {{"max_tokens", 20}}));
  EXPECT_EQ(cut["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(cut["choices"][0]["message"]["content"], kCall.substr(0, 20));
}

TEST_F(ToolCallsHttpTest, StreamedToolCallsAsOpenAISendsThem) {
  const auto chunks = stream(tool_body("Checking." + kCall, {{"stream_options", {{"include_usage", true}}}}));
  std::string content;
  std::vector<json> call_deltas;
  std::string finish;
  for (const json& c : chunks) {
    if (c["choices"].empty()) continue;
    const json& ch = c["choices"][0];
    const json& d = ch["delta"];
    if (d.contains("content") && d["content"].is_string()) content += d["content"].get<std::string>();
    if (d.contains("tool_calls")) {
      for (const json& t : d["tool_calls"]) call_deltas.push_back(t);
    }
    if (ch["finish_reason"].is_string()) finish = ch["finish_reason"];
  }
  EXPECT_EQ(content, "Checking.");
  EXPECT_EQ(finish, "tool_calls");
  ASSERT_EQ(call_deltas.size(), 2u);
  EXPECT_EQ(call_deltas[0]["index"], 0);
  EXPECT_EQ(call_deltas[0]["type"], "function");
  EXPECT_EQ(call_deltas[0]["function"]["name"], "get_weather");
  EXPECT_EQ(call_deltas[0]["function"]["arguments"], "");
  EXPECT_EQ(call_deltas[0]["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(call_deltas[1]["index"], 0);
  EXPECT_FALSE(call_deltas[1].contains("id"));
  EXPECT_EQ(call_deltas[1]["function"]["arguments"], R"({"city":"Paris"})");
  EXPECT_EQ(chunks.back()["usage"]["completion_tokens"], 9 + kCall.size() + 1);

  // two calls: indexes 0 and 1; an invalid call streams as content
  const auto two = stream(tool_body(kCall + kCall));
  std::vector<int> indexes;
  for (const json& c : two) {
    const json& d = c["choices"][0]["delta"];
    if (d.contains("tool_calls") && d["tool_calls"][0].contains("id")) {
      indexes.push_back(d["tool_calls"][0]["index"]);
    }
  }
  EXPECT_EQ(indexes, (std::vector<int>{0, 1}));
  const std::string bad = R"(<tool_call>{"name":"nope","arguments":{}}</tool_call>)";
  std::string text;
  for (const json& c : stream(tool_body(bad))) {
    const json& d = c["choices"][0]["delta"];
    if (d.contains("content")) text += d["content"].get<std::string>();
    EXPECT_FALSE(d.contains("tool_calls"));
  }
  EXPECT_EQ(text, bad);
}

TEST_F(ToolCallsHttpTest, ToolChoiceNoneRequiredAndNamed) {
  // none: the template does not see the tools and the reply is not parsed
  const json none = post(tool_body(kCall, {{"tool_choice", "none"}}));
  EXPECT_EQ(none["choices"][0]["message"]["content"], kCall);
  EXPECT_EQ(none["choices"][0]["finish_reason"], "stop");
  const json with_tools = post(tool_body("x", {{"max_tokens", 1}}));
  const json without = post(tool_body("x", {{"max_tokens", 1}, {"tool_choice", "none"}}));
  EXPECT_GT(with_tools["usage"]["prompt_tokens"], without["usage"]["prompt_tokens"]);
  // required: the reply is started with "<tool_call>\n" (prompt tokens), the model continues it
  const json req = post(tool_body(R"({"name":"get_weather","arguments":{}}</tool_call>)",
                                  {{"tool_choice", "required"}}));
  EXPECT_EQ(req["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(req["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(req["usage"]["prompt_tokens"].get<int>(),
            with_tools["usage"]["prompt_tokens"].get<int>() +
                static_cast<int>(std::string("<tool_call>\n").size()) - 1 +
                static_cast<int>(std::string(R"({"name":"get_weather","arguments":{}}</tool_call>)").size()));
  // named: the name is written for the model
  const json named = post(tool_body(R"({"city":"Rome"}}</tool_call>)",
                                    {{"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}}));
  ASSERT_EQ(named["choices"][0]["message"]["tool_calls"].size(), 1u) << named.dump();
  EXPECT_EQ(named["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            R"({"city":"Rome"})");
  // a reply that does not complete the forced call finishes normally, as text
  const json refused = post(tool_body("no", {{"tool_choice", "required"}}));
  EXPECT_EQ(refused["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(refused["choices"][0]["message"]["content"], "<tool_call>\nno");
}

TEST_F(ToolCallsHttpTest, ToolResultRoundTripIsRendered) {
  const json body = {
      {"messages",
       {{{"role", "user"}, {"content", "weather?"}},
        {{"role", "assistant"},
         {"content", nullptr},
         {"tool_calls",
          {{{"id", "call_1"},
            {"type", "function"},
            {"function", {{"name", "get_weather"}, {"arguments", R"({"city":"Paris"})"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "say:sunny"}}}},
      {"tools", json::array({weather_tool()})}};
  const json j = post(body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "sunny");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST_F(ToolCallsHttpTest, MalformedToolsAndToolChoiceAre400NamingTheField) {
  auto with = [](json extra) { return tool_body("x", std::move(extra)); };
  expect_400(with({{"tools", "get_weather"}}), "tools", "must be an array");
  expect_400(with({{"tools", {{{"type", "retrieval"}}}}}), "tools[0].type", "only function tools");
  expect_400(with({{"tools", {{{"type", "function"}}}}}), "tools[0].function", "is required");
  expect_400(with({{"tools", {{{"type", "function"}, {"function", {{"name", "a b"}}}}}}}),
             "tools[0].function.name", "letters, digits");
  expect_400(with({{"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", "x"}}}}}}}),
             "tools[0].function.parameters", "JSON Schema");
  expect_400(with({{"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"extra", 1}}}}}}}),
             "tools[0].function.extra", "unknown field");
  expect_400(with({{"tools", {weather_tool(), weather_tool()}}}), "tools[1].function.name", "twice");
  expect_400(with({{"tool_choice", "always"}}), "tool_choice", "\"always\"");
  expect_400(with({{"tool_choice", 3}}), "tool_choice", "a string or an object");
  expect_400(with({{"tool_choice", {{"type", "function"}, {"function", {{"name", "other"}}}}}}),
             "tool_choice", "does not list");
  expect_400(with({{"tool_choice", {{"type", "function"}}}}), "tool_choice.function", "is required");
  expect_400({{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"tool_choice", "required"}},
             "tool_choice", "'tools' lists none");
  expect_400({{"messages", {{{"role", "tool"}, {"content", "x"}}}}}, "messages[0].tool_call_id",
             "is required");
  expect_400({{"messages",
               {{{"role", "assistant"}, {"content", nullptr}, {"tool_calls", {{{"id", "a"}, {"type", "function"}}}}}}}},
             "messages[0].tool_calls[0].function", "is required");
  expect_400({{"messages",
               {{{"role", "assistant"},
                 {"tool_calls",
                  {{{"id", "a"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", json::object()}}}}}}}}}},
             "messages[0].tool_calls[0].function.arguments", "must be a string");
}

TEST(ToolCallsHttp, AModelWithoutAToolSyntaxRefusesTools) {
  TestEngine engine{TestEngineOptions{.context = 512, .tool_format = ToolFormat::None}};
  RunningServer server{engine};
  auto c = server.client();
  auto res = c.Post("/v1/chat/completions", tool_body("hi").dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["error"]["param"], "tools");
  // tool_choice none asks for nothing the model cannot do
  res = c.Post("/v1/chat/completions", tool_body("hi", {{"tool_choice", "none"}}).dump(),
               "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

}  // namespace
}  // namespace mlxcel::server::test
