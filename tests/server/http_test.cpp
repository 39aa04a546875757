// The HTTP layer on loopback with the deterministic test engine: responses, SSE framing, stop
// strings, usage, errors in the OpenAI shape, authentication.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "server_fixture.h"
#include "test_engine.h"

namespace mlxcel::server::test {
namespace {

using nlohmann::json;

json post_json(httplib::Client& c, const std::string& path, const json& body, int expect_status,
               const httplib::Headers& headers = {}) {
  auto res = c.Post(path, headers, body.dump(), "application/json");
  EXPECT_TRUE(res) << "no response for " << path;
  if (!res) return {};
  EXPECT_EQ(res->status, expect_status) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  return json::parse(res->body);
}

void expect_error_shape(const json& j, std::string_view type, std::string_view code) {
  ASSERT_TRUE(j.contains("error")) << j.dump();
  const json& e = j["error"];
  EXPECT_TRUE(e["message"].is_string());
  EXPECT_EQ(e["type"], type);
  EXPECT_TRUE(e.contains("param"));
  if (code.empty()) {
    EXPECT_TRUE(e["code"].is_null());
  } else {
    EXPECT_EQ(e["code"], code) << j.dump();
  }
}

json user_chat(const std::string& content, json extra = json::object()) {
  json j = {{"model", "test-model"}, {"messages", {{{"role", "user"}, {"content", content}}}}};
  j.update(extra);
  return j;
}

class HttpTest : public ::testing::Test {
 protected:
  TestEngine engine{TestEngineOptions{.slots = 2, .context = 64}};
  RunningServer server{engine};
};

TEST_F(HttpTest, HealthIsOk) {
  auto c = server.client();
  auto res = c.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const json j = json::parse(res->body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["sequences"], 2);
  EXPECT_EQ(j["ctx_size"], 64);
}

TEST_F(HttpTest, ModelsListsTheServedModel) {
  auto c = server.client();
  auto res = c.Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "test-model");
  EXPECT_EQ(j["data"][0]["object"], "model");
  EXPECT_EQ(j["data"][0]["owned_by"], "mlxcel");
  EXPECT_TRUE(j["data"][0]["created"].is_number_integer());
}

TEST_F(HttpTest, ModelById) {
  auto c = server.client();
  auto ok = c.Get("/v1/models/test-model");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(json::parse(ok->body)["id"], "test-model");
  auto missing = c.Get("/v1/models/other");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  expect_error_shape(json::parse(missing->body), "invalid_request_error", "model_not_found");
}

TEST_F(HttpTest, ChatCompletion) {
  auto c = server.client();
  const json j = post_json(c, "/v1/chat/completions", user_chat("say:Hello"), 200);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "test-model");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  // Prompt: BOS + "<|user|>" (8) + "say:Hello" (9) + "\n" (1) + "<|assistant|>" (13) = 32 tokens.
  // Completion: "Hello" (5) + EOS (1) = 6.
  EXPECT_EQ(j["usage"]["prompt_tokens"], 32);
  EXPECT_EQ(j["usage"]["completion_tokens"], 6);
  EXPECT_EQ(j["usage"]["total_tokens"], 38);
}

TEST_F(HttpTest, TextCompletion) {
  auto c = server.client();
  const json j = post_json(c, "/v1/completions", {{"prompt", "say:abc"}}, 200);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(j["choices"][0]["text"], "abc");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  // BOS + 7 bytes; "abc" + EOS.
  EXPECT_EQ(j["usage"]["prompt_tokens"], 8);
  EXPECT_EQ(j["usage"]["completion_tokens"], 4);
}

TEST_F(HttpTest, CompletionFromTokenIds) {
  auto c = server.client();
  // "say:z" as byte tokens, no BOS: 's'=115 'a'=97 'y'=121 ':'=58 'z'=122.
  const json j = post_json(c, "/v1/completions", {{"prompt", {115, 97, 121, 58, 122}}}, 200);
  EXPECT_EQ(j["choices"][0]["text"], "z");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
}

TEST_F(HttpTest, MaxTokensEndsWithLength) {
  auto c = server.client();
  const json j = post_json(c, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 5}, {"temperature", 0}}, 200);
  EXPECT_EQ(j["choices"][0]["text"], "abcde");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
}

TEST_F(HttpTest, MaxCompletionTokensEndsWithLength) {
  auto c = server.client();
  const json j =
      post_json(c, "/v1/chat/completions", user_chat("x", {{"max_completion_tokens", 3}, {"temperature", 0}}), 200);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "abc");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
}

TEST_F(HttpTest, WithoutMaxTokensGenerationFillsTheContext) {
  auto c = server.client();
  // BOS + "x" = 2 prompt tokens; 64 - 2 = 62 tokens fit.
  const json j = post_json(c, "/v1/completions", {{"prompt", "x"}}, 200);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 62);
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>().size(), 62u);
}

TEST_F(HttpTest, StopStringIsNotEmitted) {
  auto c = server.client();
  const json j =
      post_json(c, "/v1/completions", {{"prompt", "say:hello world"}, {"stop", "o w"}}, 200);
  EXPECT_EQ(j["choices"][0]["text"], "hell");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  // "hello w" = 7 tokens sampled before the stop string completed.
  EXPECT_EQ(j["usage"]["completion_tokens"], 7);
}

TEST_F(HttpTest, EarliestStopStringOfAListWins) {
  auto c = server.client();
  const json j = post_json(c, "/v1/completions",
                           {{"prompt", "say:hello world"}, {"stop", {"zzz", "wor", "lo"}}}, 200);
  EXPECT_EQ(j["choices"][0]["text"], "hel");
}

TEST_F(HttpTest, SeedMakesSamplingDeterministic) {
  auto c = server.client();
  // The test engine starts its cycle at seed % 10 when sampling: seed 13 -> 'd'.
  const json body = {{"prompt", "x"}, {"max_tokens", 3}, {"temperature", 0.7}, {"seed", 13},
                     {"top_p", 0.5}};
  EXPECT_EQ(post_json(c, "/v1/completions", body, 200)["choices"][0]["text"], "def");
  EXPECT_EQ(post_json(c, "/v1/completions", body, 200)["choices"][0]["text"], "def");
  const SamplingParams s = engine.last_sampling();
  EXPECT_EQ(s.seed, 13u);
  EXPECT_FLOAT_EQ(s.temperature, 0.7f);
  EXPECT_FLOAT_EQ(s.top_p, 0.5f);
}

TEST_F(HttpTest, WithoutSeedEachRequestGetsItsOwn) {
  auto c = server.client();
  post_json(c, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}}, 200);
  const uint64_t first = engine.last_sampling().seed;
  post_json(c, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}}, 200);
  EXPECT_NE(engine.last_sampling().seed, first);
  EXPECT_FLOAT_EQ(engine.last_sampling().temperature, 1.0f);  // OpenAI's default
}

TEST_F(HttpTest, StreamingCompletionFraming) {
  auto c = server.client();
  auto res = c.Post("/v1/completions", json({{"prompt", "say:abc"}, {"stream", true}}).dump(),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  const auto payloads = sse_payloads(res->body);
  ASSERT_GE(payloads.size(), 2u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    const json chunk = json::parse(payloads[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    EXPECT_FALSE(chunk.contains("usage"));
    text += chunk["choices"][0]["text"].get<std::string>();
    const bool last = i + 2 == payloads.size();
    if (last) {
      EXPECT_EQ(chunk["choices"][0]["finish_reason"], "stop");
    } else {
      EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
    }
  }
  EXPECT_EQ(text, "abc");
}

TEST_F(HttpTest, StreamingChatFramingWithUsage) {
  auto c = server.client();
  const json body = user_chat("say:Hi", {{"stream", true}, {"stream_options", {{"include_usage", true}}}});
  auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const auto payloads = sse_payloads(res->body);
  ASSERT_GE(payloads.size(), 4u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  const json first = json::parse(payloads.front());
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  const json usage = json::parse(payloads[payloads.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  // BOS + "<|user|>say:Hi\n<|assistant|>" = 1 + 8 + 6 + 1 + 13 = 29; "Hi" + EOS = 3.
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 29);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 3);
  EXPECT_EQ(usage["usage"]["total_tokens"], 32);
  const json finish = json::parse(payloads[payloads.size() - 3]);
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(finish["choices"][0]["delta"].empty());
  std::string text;
  for (size_t i = 0; i + 2 < payloads.size(); ++i) {
    const json chunk = json::parse(payloads[i]);
    EXPECT_TRUE(chunk["usage"].is_null());  // null on every chunk before the usage chunk
    if (chunk["choices"][0]["delta"].contains("content")) {
      text += chunk["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_EQ(text, "Hi");
}

TEST_F(HttpTest, StreamingSendsOnlyWholeUtf8Characters) {
  auto c = server.client();
  // "é€" arrives one byte per token (5 tokens); every chunk must be valid JSON with valid UTF-8.
  auto res = c.Post("/v1/completions",
                    json({{"prompt", "say:\xC3\xA9\xE2\x82\xAC"}, {"stream", true}}).dump(),
                    "application/json");
  ASSERT_TRUE(res);
  std::string text;
  const auto payloads = sse_payloads(res->body);
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    text += json::parse(payloads[i])["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, "\xC3\xA9\xE2\x82\xAC");
}

TEST_F(HttpTest, StreamingStopStringSplitAcrossTokensNeverAppears) {
  auto c = server.client();
  auto res = c.Post("/v1/completions",
                    json({{"prompt", "say:abcSTOPdef"}, {"stop", "STOP"}, {"stream", true}}).dump(),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body.find('S'), std::string::npos) << res->body;
  std::string text;
  const auto payloads = sse_payloads(res->body);
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    text += json::parse(payloads[i])["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, "abc");
}

TEST_F(HttpTest, MalformedJsonIs400) {
  auto c = server.client();
  auto res = c.Post("/v1/chat/completions", "{not json", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  expect_error_shape(json::parse(res->body), "invalid_request_error", "invalid_json");
}

TEST_F(HttpTest, UnknownFieldIs400NamingIt) {
  auto c = server.client();
  const json j = post_json(c, "/v1/chat/completions", user_chat("hi", {{"functions", json::array()}}), 400);
  expect_error_shape(j, "invalid_request_error", "unknown_field");
  EXPECT_EQ(j["error"]["param"], "functions");
}

TEST_F(HttpTest, WrongTypeIs400) {
  auto c = server.client();
  const json j = post_json(c, "/v1/chat/completions", user_chat("hi", {{"max_tokens", "5"}}), 400);
  expect_error_shape(j, "invalid_request_error", "invalid_type");
  EXPECT_EQ(j["error"]["param"], "max_tokens");
}

TEST_F(HttpTest, MissingMessagesIs400) {
  auto c = server.client();
  const json j = post_json(c, "/v1/chat/completions", {{"model", "m"}}, 400);
  expect_error_shape(j, "invalid_request_error", "missing_field");
  EXPECT_EQ(j["error"]["param"], "messages");
}

TEST_F(HttpTest, MissingPromptIs400) {
  auto c = server.client();
  const json j = post_json(c, "/v1/completions", {{"model", "m"}}, 400);
  expect_error_shape(j, "invalid_request_error", "missing_field");
  EXPECT_EQ(j["error"]["param"], "prompt");
}

TEST_F(HttpTest, PromptPlusMaxTokensOverContextIs400) {
  auto c = server.client();
  // BOS + "x" = 2 tokens; 2 + 63 = 65 > 64.
  const json j = post_json(c, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 63}}, 400);
  expect_error_shape(j, "invalid_request_error", "context_length_exceeded");
  EXPECT_EQ(j["error"]["param"], "max_tokens");
  EXPECT_EQ(j["error"]["message"],
            "prompt (2 tokens) + max_tokens (63) = 65 tokens exceeds the context of a sequence "
            "(64 tokens, --ctx-size); at most 62 can be generated for this prompt");
  // 62 fits exactly.
  post_json(c, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 62}}, 200);
}

TEST_F(HttpTest, PromptFillingTheContextIs400) {
  auto c = server.client();
  // BOS + 63 bytes = 64 tokens = the whole context.
  const json j = post_json(c, "/v1/completions", {{"prompt", std::string(63, 'q')}}, 400);
  expect_error_shape(j, "invalid_request_error", "context_length_exceeded");
  EXPECT_EQ(j["error"]["message"],
            "the prompt has 64 tokens but a sequence holds 64 tokens (--ctx-size), leaving no "
            "room to generate");
}

TEST_F(HttpTest, TokenIdOutsideVocabularyIs400) {
  auto c = server.client();
  const json j = post_json(c, "/v1/completions", {{"prompt", {1, 258}}}, 400);
  expect_error_shape(j, "invalid_request_error", "invalid_value");
  EXPECT_EQ(j["error"]["message"], "prompt[1]: token id 258 is outside the vocabulary (0..257)");
}

TEST_F(HttpTest, NegativeTokenIdIs400) {
  auto c = server.client();
  const json j = post_json(c, "/v1/completions", {{"prompt", {-1}}}, 400);
  EXPECT_EQ(j["error"]["message"], "prompt[0]: token id -1 is outside the vocabulary (0..257)");
}

TEST_F(HttpTest, TemplateRejectionIs400) {
  auto c = server.client();
  const json j = post_json(c, "/v1/chat/completions", user_chat("RAISE"), 400);
  expect_error_shape(j, "invalid_request_error", "invalid_messages");
  EXPECT_EQ(j["error"]["message"],
            "the chat template rejected the messages: Conversation roles must alternate");
}

TEST_F(HttpTest, EngineFailureIs500AndTheServerKeepsServing) {
  auto c = server.client();
  const json j = post_json(c, "/v1/completions", {{"prompt", "fail:step"}, {"max_tokens", 2}}, 500);
  expect_error_shape(j, "server_error", "generation_failed");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("injected step failure"),
            std::string::npos);
  EXPECT_TRUE(eventually([&] { return engine.active_slots() == 0; }));
  post_json(c, "/v1/completions", {{"prompt", "say:ok"}}, 200);
}

TEST_F(HttpTest, EngineFailureMidStreamSendsAnErrorEvent) {
  auto c = server.client();
  auto res = c.Post("/v1/completions",
                    json({{"prompt", "fail:step"}, {"max_tokens", 2}, {"stream", true}}).dump(),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);  // headers went out before the failure
  const auto payloads = sse_payloads(res->body);
  ASSERT_FALSE(payloads.empty());
  const json last = json::parse(payloads.back());
  expect_error_shape(last, "server_error", "generation_failed");
}

TEST_F(HttpTest, UnknownRouteIs404) {
  auto c = server.client();
  auto res = c.Get("/v1/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  expect_error_shape(json::parse(res->body), "invalid_request_error", "not_found");
  auto post = c.Post("/nope", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
}

TEST_F(HttpTest, WrongMethodIs405WithAllow) {
  auto c = server.client();
  auto get = c.Get("/v1/chat/completions");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(get->get_header_value("Allow"), "POST");
  expect_error_shape(json::parse(get->body), "invalid_request_error", "method_not_allowed");
  auto post = c.Post("/v1/models", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET");
  auto del = c.Delete("/health");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
}

TEST_F(HttpTest, GarbageRequestLineGetsAnErrorNotACrash) {
  const std::string reply = raw_exchange(server.port(), "\x01\x02 garbage\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"code\":\"invalid_http\""), std::string::npos) << reply;
  auto c = server.client();
  auto res = c.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpTest, UnsupportedMethodGetsAnError) {
  const std::string reply =
      raw_exchange(server.port(), "BREW /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 405", 0), 0u) << reply;
  EXPECT_NE(reply.find("Allow: GET"), std::string::npos) << reply;
}

TEST_F(HttpTest, MetricsExposition) {
  auto c = server.client();
  post_json(c, "/v1/completions", {{"prompt", "say:abc"}}, 200);
  post_json(c, "/v1/completions", {{"prompt", "x"}, {"max_tokens", 63}}, 400);
  // Requests are counted once their response is written, which may be just after the client read
  // it: wait until the 400 shows.
  std::string m;
  ASSERT_TRUE(eventually([&] {
    auto res = c.Get("/metrics");
    if (!res) return false;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    m = res->body;
    return m.find("status=\"400\"} 1") != std::string::npos;
  }));
  for (const char* line : {
           "# TYPE mlxcel_memory_active_bytes gauge",
           "# TYPE mlxcel_memory_peak_bytes gauge",
           "# TYPE mlxcel_memory_cache_bytes gauge",
           // 2 slots x 64 tokens x 64 bytes = 8192
           "mlxcel_kv_cache_bytes 8192\n",
           "mlxcel_kv_cache_used_bytes 0\n",
           "mlxcel_kv_cache_free_bytes 8192\n",
           "mlxcel_sequences 2\n",
           "mlxcel_sequences_active 0\n",
           "mlxcel_requests_queued 0\n",
           "mlxcel_requests_total{route=\"/v1/completions\",status=\"200\"} 1\n",
           "mlxcel_requests_total{route=\"/v1/completions\",status=\"400\"} 1\n",
           "mlxcel_refusals_total{reason=\"queue_full\"} 0\n",
           "mlxcel_refusals_total{reason=\"context\"} 1\n",
           "mlxcel_requests_cancelled_total 0\n",
           // BOS + "say:abc" = 8 prompt tokens; "abc" + EOS = 4 generated.
           "mlxcel_prompt_tokens_total 8\n",
           "mlxcel_generated_tokens_total 4\n",
           "# TYPE mlxcel_step_seconds_total counter",
           "# TYPE mlxcel_generation_tokens_per_second gauge",
       }) {
    EXPECT_NE(m.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << m;
  }
}

// Metric value of a line "name value" in a Prometheus text body, or -1 when absent.
double metric_in(const std::string& body, const std::string& name) {
  const size_t at = body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + name.size() + 2));
}

TEST(HttpMetrics, ThePlanStandsBesideWhatTheProcessHolds) {
  TestEngine engine;
  ServerOptions options;
  options.planned_bytes = 123456;
  options.estimate_bytes = 234567;
  RunningServer server(engine, options);
  auto c = server.client();
  auto res = c.Get("/metrics");
  ASSERT_TRUE(res);
  const std::string& m = res->body;
  EXPECT_EQ(metric_in(m, "mlxcel_memory_planned_bytes"), 123456);
  EXPECT_EQ(metric_in(m, "mlxcel_memory_estimate_bytes"), 234567);
  // This test process holds at least the test binary's pages, and VmHWM >= VmRSS.
  const double rss = metric_in(m, "mlxcel_process_resident_bytes");
  const double hwm = metric_in(m, "mlxcel_process_resident_peak_bytes");
  EXPECT_GT(rss, 1 << 20);
  EXPECT_GE(hwm, rss);
}

TEST(HttpMetrics, NoPlanNoPlanMetrics) {
  TestEngine engine;
  RunningServer server(engine);
  auto c = server.client();
  auto res = c.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(metric_in(res->body, "mlxcel_memory_planned_bytes"), -1);
  EXPECT_EQ(metric_in(res->body, "mlxcel_memory_estimate_bytes"), -1);
  EXPECT_GT(metric_in(res->body, "mlxcel_process_resident_bytes"), 0);
}

TEST(HttpLimits, OversizedBodyIs413) {
  TestEngine engine;
  ServerOptions options;
  options.max_body = 1024;
  RunningServer server(engine, options);
  auto c = server.client();
  const json body = user_chat(std::string(2000, 'x'));
  auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  expect_error_shape(json::parse(res->body), "invalid_request_error", "request_too_large");
  // A body under the limit is served.
  post_json(c, "/v1/chat/completions", user_chat("say:ok"), 200);
}

class AuthTest : public ::testing::Test {
 protected:
  TestEngine engine;
  RunningServer server{engine, with_key("s3cret")};
  static ServerOptions with_key(const std::string& key) {
    ServerOptions o;
    o.api_key = key;
    return o;
  }
};

TEST_F(AuthTest, MissingKeyIs401) {
  auto c = server.client();
  auto res = c.Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer");
  const json j = json::parse(res->body);
  expect_error_shape(j, "authentication_error", "invalid_api_key");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("missing API key"), std::string::npos);
}

TEST_F(AuthTest, WrongKeyIs401) {
  auto c = server.client();
  const json j = post_json(c, "/v1/chat/completions", user_chat("hi"), 401,
                           {{"Authorization", "Bearer s3cres"}});
  expect_error_shape(j, "authentication_error", "invalid_api_key");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("invalid API key"), std::string::npos);
}

TEST_F(AuthTest, NonBearerSchemeIs401) {
  auto c = server.client();
  post_json(c, "/v1/completions", {{"prompt", "x"}}, 401, {{"Authorization", "Basic s3cret"}});
}

TEST_F(AuthTest, RightKeyIsServed) {
  auto c = server.client();
  c.set_bearer_token_auth("s3cret");
  auto res = c.Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const json j = post_json(c, "/v1/completions", {{"prompt", "say:in"}}, 200);
  EXPECT_EQ(j["choices"][0]["text"], "in");
}

TEST_F(AuthTest, HealthNeedsNoKey) {
  auto c = server.client();
  auto res = c.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(AuthTest, MetricsNeedTheKey) {
  auto c = server.client();
  auto res = c.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
}

}  // namespace
}  // namespace mlxcel::server::test
