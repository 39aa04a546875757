// The sampling fields and logprobs over HTTP with the test engine, whose logits go through the
// server's real sampler: each field changes the text as it should, bad values are 400 naming the
// field, log-probabilities have OpenAI's chat and legacy shapes, streamed one token per chunk.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "server_fixture.h"
#include "test_engine.h"

namespace mlxcel::server::test {
namespace {

using nlohmann::json;

class SamplingHttpTest : public ::testing::Test {
 protected:
  json post(const std::string& path, const json& body, int expect_status = 200) {
    auto c = server.client();
    auto res = c.Post(path, body.dump(), "application/json");
    EXPECT_TRUE(res) << "no response for " << path;
    if (!res) return {};
    EXPECT_EQ(res->status, expect_status) << body.dump() << " -> " << res->body;
    return json::parse(res->body);
  }
  // The completion text for `body` (POST /v1/completions).
  std::string complete(json body) {
    const json j = post("/v1/completions", body);
    return j["choices"][0]["text"].get<std::string>();
  }
  // The parsed chunks of a streamed request, [DONE] excluded (checked to be last).
  std::vector<json> stream(const std::string& path, json body) { return stream_chunks(server, path, std::move(body)); }
  void expect_400(const std::string& path, const json& body, const std::string& param,
                  const std::string& fragment) {
    const json j = post(path, body, 400);
    EXPECT_EQ(j["error"]["param"], param) << j.dump();
    EXPECT_NE(j["error"]["message"].get<std::string>().find(fragment), std::string::npos)
        << j.dump();
  }

  TestEngine engine{TestEngineOptions{.slots = 2, .context = 64}};
  RunningServer server{engine};
};

json chat_body(const std::string& content, json extra = json::object()) {
  json j = {{"messages", {{{"role", "user"}, {"content", content}}}}};
  j.update(extra);
  return j;
}

// ---- sampling fields ------------------------------------------------------------------------

TEST_F(SamplingHttpTest, LogitBiasPlus100ForcesATokenWhileSampling) {
  // The engine wants "abcde" (logit 80); 'Z' (90) + 100 wins at temperature 1.
  EXPECT_EQ(complete({{"prompt", "x"}, {"max_tokens", 5}, {"temperature", 1}, {"seed", 0},
                      {"logit_bias", {{"90", 100}}}}),
            "ZZZZZ");
  EXPECT_EQ(complete({{"prompt", "x"}, {"max_tokens", 5}, {"temperature", 1}, {"seed", 0}}),
            "abcde");
}

TEST_F(SamplingHttpTest, LogitBiasAppliesToChatToo) {
  const json j = post("/v1/chat/completions",
                      chat_body("say:hi", {{"max_tokens", 3}, {"logit_bias", {{"81", 100}}}}));
  EXPECT_EQ(j["choices"][0]["message"]["content"], "QQQ");
}

TEST_F(SamplingHttpTest, TopKOneEqualsGreedy) {
  const json base = {{"prompt", "flat:"}, {"max_tokens", 12}};
  json greedy_body = base;
  greedy_body["temperature"] = 0;
  const std::string greedy = complete(greedy_body);
  EXPECT_EQ(greedy, "aaaaaaaaaaaa");
  json sampled = base;
  sampled.update({{"temperature", 1.5}, {"seed", 7}});
  EXPECT_NE(complete(sampled), greedy);  // ten letters of near-equal weight
  sampled["top_k"] = 1;
  EXPECT_EQ(complete(sampled), greedy);
}

TEST_F(SamplingHttpTest, MinPOneEqualsGreedy) {
  EXPECT_EQ(complete({{"prompt", "flat:"}, {"max_tokens", 12}, {"temperature", 1.5},
                      {"seed", 7}, {"min_p", 1}}),
            "aaaaaaaaaaaa");
}

TEST_F(SamplingHttpTest, PresencePenaltyMakesEachLetterAppearOnce) {
  // Every letter used once loses 2: greedy walks down 'a'..'j' before repeating.
  EXPECT_EQ(complete({{"prompt", "flat:"}, {"max_tokens", 10}, {"temperature", 0},
                      {"presence_penalty", 2}}),
            "abcdefghij");
}

TEST_F(SamplingHttpTest, FrequencyPenaltyChangesTheCounts) {
  const std::string text = complete(
      {{"prompt", "flat:"}, {"max_tokens", 12}, {"temperature", 0}, {"frequency_penalty", 0.15}});
  const auto a = std::count(text.begin(), text.end(), 'a');
  EXPECT_LT(a, 12) << text;
  EXPECT_GE(std::set<char>(text.begin(), text.end()).size(), 3u) << text;
  // A negative penalty rewards repetition: still all 'a'.
  EXPECT_EQ(complete({{"prompt", "flat:"}, {"max_tokens", 6}, {"temperature", 0},
                      {"frequency_penalty", -2}}),
            "aaaaaa");
}

TEST_F(SamplingHttpTest, RepetitionPenaltyCountsThePrompt) {
  // "flat:" holds an 'a': 1.0 / 2 = 0.5 < 0.9, so the first token is already 'b'.
  const std::string text = complete(
      {{"prompt", "flat:"}, {"max_tokens", 4}, {"temperature", 0}, {"repetition_penalty", 2}});
  EXPECT_EQ(text.substr(0, 2), "bc") << text;
}

TEST_F(SamplingHttpTest, FieldsReachTheEngine) {
  complete({{"prompt", "x"}, {"max_tokens", 1}, {"top_k", 40}, {"min_p", 0.05},
            {"repetition_penalty", 1.1}, {"presence_penalty", 0.5}, {"frequency_penalty", -0.5},
            {"logit_bias", {{"5", -1}}}, {"logprobs", 2}});
  const SamplingParams s = engine.last_sampling();
  EXPECT_EQ(s.top_k, 40u);
  EXPECT_FLOAT_EQ(s.min_p, 0.05f);
  EXPECT_FLOAT_EQ(s.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(s.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, -0.5f);
  EXPECT_EQ(s.logit_bias, (std::vector<std::pair<int32_t, float>>{{5, -1.0f}}));
  EXPECT_TRUE(s.logprobs);
  EXPECT_EQ(s.top_logprobs, 2u);
}

TEST_F(SamplingHttpTest, InformationalFieldsAreAccepted) {
  const json j = post("/v1/chat/completions",
                      chat_body("say:ok", {{"store", false}, {"metadata", {{"k", "v"}}},
                                           {"user", "me"}, {"parallel_tool_calls", true}}));
  EXPECT_EQ(j["choices"][0]["message"]["content"], "ok");
}

TEST_F(SamplingHttpTest, BadValuesAre400NamingTheField) {
  expect_400("/v1/completions", {{"prompt", "x"}, {"logit_bias", {{"258", 1}}}}, "logit_bias",
             "token id 258, outside the vocabulary (0..257)");
  expect_400("/v1/chat/completions", chat_body("x", {{"logit_bias", {{"tok", 1}}}}),
             "logit_bias", "\"tok\"");
  expect_400("/v1/chat/completions", chat_body("x", {{"logit_bias", {{"3", -150}}}}),
             "logit_bias", "got -150");
  expect_400("/v1/chat/completions", chat_body("x", {{"presence_penalty", 3}}),
             "presence_penalty", "got 3");
  expect_400("/v1/completions", {{"prompt", "x"}, {"frequency_penalty", -2.5}},
             "frequency_penalty", "got -2.5");
  expect_400("/v1/completions", {{"prompt", "x"}, {"top_k", -5}}, "top_k", "got -5");
  expect_400("/v1/completions", {{"prompt", "x"}, {"min_p", 2}}, "min_p", "got 2");
  expect_400("/v1/completions", {{"prompt", "x"}, {"repetition_penalty", 0}},
             "repetition_penalty", "got 0");
  expect_400("/v1/completions", {{"prompt", "x"}, {"logprobs", 9}}, "logprobs", "got 9");
  expect_400("/v1/chat/completions", chat_body("x", {{"logprobs", true}, {"top_logprobs", 30}}),
             "top_logprobs", "got 30");
  expect_400("/v1/chat/completions", chat_body("x", {{"n", 2}}), "n", "default value 1");
  expect_400("/v1/chat/completions", chat_body("x", {{"functions", json::array()}}), "functions",
             "unknown field");
}

// ---- logprobs ---------------------------------------------------------------------------------

TEST_F(SamplingHttpTest, ChatLogprobsHaveOpenAIsShape) {
  const json j = post("/v1/chat/completions",
                      chat_body("say:Hi", {{"logprobs", true}, {"top_logprobs", 2}}));
  const json& lp = j["choices"][0]["logprobs"];
  ASSERT_TRUE(lp.contains("content")) << j.dump();
  EXPECT_TRUE(lp["refusal"].is_null());
  const json& content = lp["content"];
  ASSERT_EQ(content.size(), 2u) << lp.dump();  // 'H', 'i'; the end-of-sequence token is not text
  EXPECT_EQ(content[0]["token"], "H");
  EXPECT_EQ(content[0]["bytes"], json::array({72}));
  // logit 80 against 257 tokens at 0: log-probability ~ -257 e^-80, printed as 0 or -0
  EXPECT_NEAR(content[0]["logprob"].get<double>(), 0.0, 1e-6);
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[0]["top_logprobs"][0]["token"], "H");
  EXPECT_EQ(content[0]["top_logprobs"][1]["bytes"], json::array({0}));  // lowest id of the rest
  EXPECT_NEAR(content[0]["top_logprobs"][1]["logprob"].get<double>(), -80.0, 1e-3);
  EXPECT_EQ(content[1]["token"], "i");
}

TEST_F(SamplingHttpTest, LogprobsAreBeforeTemperature) {
  // flat: 'a' has logit 1.0 among 'a'..'j' (1.0 .. 0.1) and 248 tokens at -30.
  double z = 0;
  for (int k = 0; k < 10; ++k) z += std::exp(1.0 - 0.1 * k);
  z += 248 * std::exp(-30.0);
  for (double temperature : {0.0, 0.3, 2.0}) {
    const json j = post("/v1/completions", {{"prompt", "flat:"}, {"max_tokens", 1},
                                            {"temperature", temperature}, {"logprobs", 1},
                                            {"top_k", 1}});
    const json& lp = j["choices"][0]["logprobs"];
    EXPECT_EQ(lp["tokens"], json::array({"a"}));
    EXPECT_NEAR(lp["token_logprobs"][0].get<double>(), 1.0 - std::log(z), 1e-5) << temperature;
  }
}

TEST_F(SamplingHttpTest, LogprobsFollowTheLogitBias) {
  const json j = post("/v1/chat/completions",
                      chat_body("flat:", {{"max_tokens", 1}, {"temperature", 0}, {"logprobs", true},
                                          {"logit_bias", {{"106", 100}}}}));  // 'j'
  const json& t = j["choices"][0]["logprobs"]["content"][0];
  EXPECT_EQ(t["token"], "j");
  EXPECT_NEAR(t["logprob"].get<double>(), 0.0, 1e-6);
  EXPECT_TRUE(t["top_logprobs"].empty());
}

TEST_F(SamplingHttpTest, CompletionLogprobsHaveTheLegacyShape) {
  const json j = post("/v1/completions", {{"prompt", "say:ab\xC3\xA9"}, {"logprobs", 2}});
  EXPECT_EQ(j["choices"][0]["text"], "ab\xC3\xA9");
  const json& lp = j["choices"][0]["logprobs"];
  // 'é' is two byte tokens, each shown as U+FFFD (a byte is not a character)
  EXPECT_EQ(lp["tokens"], json::array({"a", "b", "\xEF\xBF\xBD", "\xEF\xBF\xBD"}));
  ASSERT_EQ(lp["token_logprobs"].size(), 4u);
  // code points before each token; the character's first byte token owns it
  EXPECT_EQ(lp["text_offset"], json::array({0, 1, 2, 3}));
  ASSERT_EQ(lp["top_logprobs"].size(), 4u);
  EXPECT_EQ(lp["top_logprobs"][0].size(), 2u);  // 'a' and the best of the rest
  EXPECT_TRUE(lp["top_logprobs"][0].contains("a"));
}

TEST_F(SamplingHttpTest, CompletionLogprobsZeroListsTheSampledToken) {
  const json j = post("/v1/completions", {{"prompt", "say:ab"}, {"logprobs", 0}});
  const json& lp = j["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], json::array({"a", "b"}));
  EXPECT_EQ(lp["top_logprobs"][1], json({{"b", lp["token_logprobs"][1]}}));
}

TEST_F(SamplingHttpTest, WithoutLogprobsTheyAreNull) {
  const json j = post("/v1/completions", {{"prompt", "say:ab"}});
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
}

TEST_F(SamplingHttpTest, StopStringTokensAreNotListed) {
  const json j = post("/v1/completions",
                      {{"prompt", "say:abcSTOPdef"}, {"stop", "STOP"}, {"logprobs", 0}});
  EXPECT_EQ(j["choices"][0]["text"], "abc");
  EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"], json::array({"a", "b", "c"}));
}

// ---- streaming: one chunk per token -------------------------------------------------------

TEST_F(SamplingHttpTest, StreamedCompletionIsOneChunkPerToken) {
  const auto chunks = stream("/v1/completions", {{"prompt", "say:abcdef"}});
  ASSERT_EQ(chunks.size(), 7u);  // six tokens, then the finishing chunk
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(chunks[i]["choices"][0]["text"], std::string(1, static_cast<char>('a' + i)));
  }
  EXPECT_EQ(chunks[6]["choices"][0]["finish_reason"], "stop");
}

TEST_F(SamplingHttpTest, StreamedChatLogprobsComeWithEachToken) {
  const auto chunks = stream("/v1/chat/completions",
                             chat_body("say:Hey\xC3\xA9", {{"logprobs", true}, {"top_logprobs", 1}}));
  // role chunk, 'H', 'e', 'y', 'é' (its two byte tokens together), finishing chunk
  ASSERT_EQ(chunks.size(), 6u);
  EXPECT_TRUE(chunks[0]["choices"][0]["logprobs"].is_null());
  const std::vector<std::string> texts = {"H", "e", "y", "\xC3\xA9"};
  for (size_t i = 0; i < texts.size(); ++i) {
    const json& choice = chunks[i + 1]["choices"][0];
    EXPECT_EQ(choice["delta"]["content"], texts[i]);
    const json& content = choice["logprobs"]["content"];
    ASSERT_EQ(content.size(), i == 3 ? 2u : 1u) << choice.dump();
    EXPECT_EQ(content[0]["top_logprobs"].size(), 1u);
  }
  EXPECT_EQ(chunks[4]["choices"][0]["logprobs"]["content"][0]["bytes"], json::array({0xC3}));
  EXPECT_EQ(chunks[4]["choices"][0]["logprobs"]["content"][1]["bytes"], json::array({0xA9}));
  EXPECT_EQ(chunks[5]["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(chunks[5]["choices"][0]["logprobs"].is_null());
}

TEST_F(SamplingHttpTest, StreamedCompletionLogprobsHaveRunningOffsets) {
  const auto chunks = stream("/v1/completions", {{"prompt", "say:abc"}, {"logprobs", 1}});
  ASSERT_EQ(chunks.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    const json& lp = chunks[i]["choices"][0]["logprobs"];
    EXPECT_EQ(lp["tokens"], json::array({std::string(1, static_cast<char>('a' + i))}));
    EXPECT_EQ(lp["text_offset"], json::array({i}));
  }
}

TEST_F(SamplingHttpTest, TextHeldForAStopStringLeavesWithItsTokens) {
  // 'S' may start "ST", so it waits; "x" shows it does not, and both leave in one chunk.
  const auto chunks = stream("/v1/completions",
                             {{"prompt", "say:abSxy"}, {"stop", "ST"}, {"logprobs", 0}});
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_EQ(chunks[2]["choices"][0]["text"], "Sx");
  EXPECT_EQ(chunks[2]["choices"][0]["logprobs"]["tokens"], json::array({"S", "x"}));
  EXPECT_EQ(chunks[3]["choices"][0]["text"], "y");
}

}  // namespace
}  // namespace mlxcel::server::test
