// Request parsing: every malformed case is its own test checking status, code, param and message.
#include <gtest/gtest.h>

#include "server/api.h"

namespace mlxcel::server {
namespace {

// Parses and expects an ApiError; returns it for further checks.
ApiError parse_error(std::string_view body, Endpoint e = Endpoint::ChatCompletions) {
  try {
    parse_request(body, e);
  } catch (const ApiError& err) {
    return err;
  }
  ADD_FAILURE() << "no error for " << body;
  return ApiError(0, "");
}

void expect_error(std::string_view body, std::string_view code, std::string_view param,
                  std::string_view fragment, Endpoint e = Endpoint::ChatCompletions) {
  ApiError err = parse_error(body, e);
  EXPECT_EQ(err.status(), 400) << body;
  EXPECT_EQ(err.code(), code) << body;
  EXPECT_EQ(err.param(), param) << body;
  EXPECT_NE(std::string(err.what()).find(fragment), std::string::npos)
      << "message: " << err.what();
}

constexpr std::string_view kMsgs = R"("messages":[{"role":"user","content":"hi"}])";

std::string chat(std::string_view extra) {
  return "{" + std::string(kMsgs) + (extra.empty() ? "" : ",") + std::string(extra) + "}";
}

TEST(ParseRequest, ChatWithAllSupportedFields) {
  ParsedRequest p = parse_request(
      chat(R"("model":"m","stream":true,"stream_options":{"include_usage":true},)"
           R"("max_tokens":7,"temperature":0.5,"top_p":0.9,"seed":-3,"stop":["x","yz"],)"
           R"("n":1,"presence_penalty":0,"frequency_penalty":0.0,"user":"u","logprobs":false)"),
      Endpoint::ChatCompletions);
  EXPECT_EQ(p.model, "m");
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
  ASSERT_TRUE(p.max_tokens.has_value());
  EXPECT_EQ(*p.max_tokens, 7u);
  EXPECT_EQ(p.max_tokens_field, "max_tokens");
  EXPECT_FLOAT_EQ(p.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 0.9f);
  EXPECT_TRUE(p.seed_given);
  EXPECT_EQ(p.sampling.seed, 18446744073709551613ull);  // -3 as uint64: 2^64 - 3
  EXPECT_EQ(p.stop, (std::vector<std::string>{"x", "yz"}));
  ASSERT_EQ(p.messages.size(), 1u);
  EXPECT_EQ(p.messages[0]["content"], "hi");
}

TEST(ParseRequest, DefaultsAreOpenAIs) {
  ParsedRequest p = parse_request(chat(""), Endpoint::ChatCompletions);
  EXPECT_FALSE(p.stream);
  EXPECT_FALSE(p.max_tokens.has_value());
  EXPECT_FLOAT_EQ(p.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 1.0f);
  EXPECT_FALSE(p.seed_given);
  EXPECT_TRUE(p.stop.empty());
}

TEST(ParseRequest, NullMeansAbsent) {
  ParsedRequest p = parse_request(chat(R"("max_tokens":null,"stop":null,"temperature":null)"),
                                  Endpoint::ChatCompletions);
  EXPECT_FALSE(p.max_tokens.has_value());
  EXPECT_TRUE(p.stop.empty());
  EXPECT_FLOAT_EQ(p.sampling.temperature, 1.0f);
}

TEST(ParseRequest, MaxCompletionTokensIsUsed) {
  ParsedRequest p = parse_request(chat(R"("max_completion_tokens":5)"), Endpoint::ChatCompletions);
  EXPECT_EQ(p.max_tokens.value_or(0), 5u);
  EXPECT_EQ(p.max_tokens_field, "max_completion_tokens");
}

TEST(ParseRequest, StopAsSingleString) {
  ParsedRequest p = parse_request(chat(R"("stop":"\n")"), Endpoint::ChatCompletions);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"\n"}));
}

TEST(ParseRequest, TopPZeroMeansGreedy) {
  ParsedRequest p = parse_request(chat(R"("top_p":0,"temperature":1.5)"), Endpoint::ChatCompletions);
  EXPECT_FLOAT_EQ(p.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 1.0f);
}

TEST(ParseRequest, DeveloperRoleBecomesSystemAndTextPartsJoin) {
  ParsedRequest p = parse_request(
      R"({"messages":[{"role":"developer","content":[{"type":"text","text":"a"},)"
      R"({"type":"text","text":"b"}]},{"role":"assistant","content":null,"name":"bot"}]})",
      Endpoint::ChatCompletions);
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[0]["role"], "system");
  EXPECT_EQ(p.messages[0]["content"], "a\nb");
  EXPECT_EQ(p.messages[1]["content"], "");
  EXPECT_EQ(p.messages[1]["name"], "bot");
}

TEST(ParseRequest, CompletionPromptForms) {
  EXPECT_EQ(parse_request(R"({"prompt":"hi"})", Endpoint::Completions).prompt_text.value_or(""),
            "hi");
  EXPECT_EQ(parse_request(R"({"prompt":["hi"]})", Endpoint::Completions).prompt_text.value_or(""),
            "hi");
  EXPECT_EQ(parse_request(R"({"prompt":[1,2,3]})", Endpoint::Completions).prompt_ids,
            (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(parse_request(R"({"prompt":[[4,5]]})", Endpoint::Completions).prompt_ids,
            (std::vector<int64_t>{4, 5}));
}

TEST(ParseRequest, CompletionNeutralFieldsAccepted) {
  ParsedRequest p = parse_request(R"({"prompt":"x","echo":false,"best_of":1,"suffix":null,"logit_bias":{}})",
                                  Endpoint::Completions);
  EXPECT_EQ(p.prompt_text.value_or(""), "x");
  EXPECT_FALSE(p.sampling.logprobs);
}

TEST(ParseRequest, SamplingExtensionsAreApplied) {
  ParsedRequest p = parse_request(
      chat(R"("top_k":5,"min_p":0.1,"repetition_penalty":1.3,"presence_penalty":-0.5,)"
           R"("frequency_penalty":2,"logit_bias":{"7":-100,"300":2.5},)"
           R"("logprobs":true,"top_logprobs":20)"),
      Endpoint::ChatCompletions);
  const SamplingParams& s = p.sampling;
  EXPECT_EQ(s.top_k, 5u);
  EXPECT_FLOAT_EQ(s.min_p, 0.1f);
  EXPECT_FLOAT_EQ(s.repetition_penalty, 1.3f);
  EXPECT_FLOAT_EQ(s.presence_penalty, -0.5f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, 2.0f);
  // ids are checked against the vocabulary by the server, not here
  EXPECT_EQ(s.logit_bias, (std::vector<std::pair<int32_t, float>>{{7, -100.0f}, {300, 2.5f}}));
  EXPECT_TRUE(s.logprobs);
  EXPECT_EQ(s.top_logprobs, 20u);
}

TEST(ParseRequest, LogitBiasSpellingsOfOneIdAreOneEntry) {
  const ParsedRequest p = parse_request(chat(R"("logit_bias":{"007":1,"7":-2})"),
                                        Endpoint::ChatCompletions);
  EXPECT_EQ(p.sampling.logit_bias, (std::vector<std::pair<int32_t, float>>{{7, -2.0f}}));
}

TEST(ParseRequest, TopKMinusOneAndZeroAreOff) {
  EXPECT_EQ(parse_request(chat(R"("top_k":-1)"), Endpoint::ChatCompletions).sampling.top_k, 0u);
  EXPECT_EQ(parse_request(chat(R"("top_k":0)"), Endpoint::ChatCompletions).sampling.top_k, 0u);
}

TEST(ParseRequest, ChatLogprobsWithoutTopAndTopZero) {
  ParsedRequest p =
      parse_request(chat(R"("logprobs":true)"), Endpoint::ChatCompletions);
  EXPECT_TRUE(p.sampling.logprobs);
  EXPECT_EQ(p.sampling.top_logprobs, 0u);
  p = parse_request(chat(R"("logprobs":false,"top_logprobs":0)"), Endpoint::ChatCompletions);
  EXPECT_FALSE(p.sampling.logprobs);
}

TEST(ParseRequest, CompletionLogprobsIsACount) {
  ParsedRequest p = parse_request(R"({"prompt":"x","logprobs":0})", Endpoint::Completions);
  EXPECT_TRUE(p.sampling.logprobs);  // 0: the sampled tokens only
  EXPECT_EQ(p.sampling.top_logprobs, 0u);
  p = parse_request(R"({"prompt":"x","logprobs":5})", Endpoint::Completions);
  EXPECT_EQ(p.sampling.top_logprobs, 5u);
  p = parse_request(R"({"prompt":"x","logprobs":null})", Endpoint::Completions);
  EXPECT_FALSE(p.sampling.logprobs);
}

TEST(ParseRequest, InformationalFieldsAreAcceptedAndIgnored) {
  ParsedRequest p = parse_request(
      chat(R"("store":true,"metadata":{"team":"a","run":"7"},"user":"u-1",)"
           R"("parallel_tool_calls":false)"),
      Endpoint::ChatCompletions);
  EXPECT_EQ(p.messages.size(), 1u);
}

TEST(ParseRequestError, MalformedJson) {
  expect_error(R"({"messages": [)", "invalid_json", "", "not valid JSON");
}

TEST(ParseRequestError, MalformedJsonReportsPosition) {
  expect_error("{\"a\" 1}", "invalid_json", "", "line 1, column 6");
}

TEST(ParseRequestError, InvalidUtf8InString) {
  expect_error("{\"messages\":\"\xFF\"}", "invalid_json", "", "not valid JSON");
}

TEST(ParseRequestError, BodyIsNotAnObject) {
  expect_error("[1,2]", "invalid_type", "", "must be a JSON object (got array");
}

TEST(ParseRequestError, EmptyBody) { expect_error("", "invalid_json", "", "not valid JSON"); }

// Nesting is checked before parsing (core/json_input.h): 100,000 levels never reach a parser or
// a recursive walk.
TEST(ParseRequestError, DeeplyNestedBodyIsRejectedNotCrashed) {
  const std::string deep = "{\"messages\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_error(deep, "invalid_json", "", "nested deeper than 128 levels at byte 139");
}

TEST(ParseRequestError, DeeplyNestedWrongTypeIsDescribedWithoutRecursion) {
  const std::string deep =
      chat("\"temperature\":" + std::string(100, '[') + std::string(100, ']'));
  expect_error(deep, "invalid_type", "temperature", "must be a number (got array of 1 element(s))");
}

TEST(ParseRequestError, UnknownField) {
  expect_error(chat(R"("functions":[])"), "unknown_field", "functions",
               "unknown field 'functions'");
}

TEST(ParseRequestError, PromptOnChatEndpointIsUnknown) {
  expect_error(chat(R"("prompt":"x")"), "unknown_field", "prompt", "unknown field 'prompt'");
}

TEST(ParseRequestError, MessagesOnCompletionsEndpointIsUnknown) {
  expect_error(R"({"prompt":"x","messages":[]})", "unknown_field", "messages",
               "unknown field 'messages'", Endpoint::Completions);
}

TEST(ParseRequestError, MissingMessages) {
  expect_error(R"({"model":"m"})", "missing_field", "messages", "'messages' is required");
}

TEST(ParseRequestError, MissingPrompt) {
  expect_error(R"({"model":"m"})", "missing_field", "prompt", "'prompt' is required",
               Endpoint::Completions);
}

TEST(ParseRequestError, MessagesNull) {
  expect_error(R"({"messages":null})", "invalid_type", "messages", "must be an array");
}

TEST(ParseRequestError, MessagesEmpty) {
  expect_error(R"({"messages":[]})", "invalid_value", "messages", "at least one message");
}

TEST(ParseRequestError, MessageNotAnObject) {
  expect_error(R"({"messages":["hi"]})", "invalid_type", "messages[0]", "must be an object");
}

TEST(ParseRequestError, MessageMissingRole) {
  expect_error(R"({"messages":[{"content":"hi"}]})", "missing_field", "messages[0].role",
               "'messages[0].role' is required");
}

TEST(ParseRequestError, MessageMissingContent) {
  expect_error(R"({"messages":[{"role":"user"}]})", "missing_field", "messages[0].content",
               "'messages[0].content' is required");
}

TEST(ParseRequestError, MessageUnknownRole) {
  expect_error(R"({"messages":[{"role":"function","content":"x"}]})", "unsupported_value",
               "messages[0].role", "got 'function'");
}

TEST(ParseRequestError, MessageRoleWrongType) {
  expect_error(R"({"messages":[{"role":1,"content":"x"}]})", "invalid_type", "messages[0].role",
               "must be a string (got number 1)");
}

TEST(ParseRequestError, MessageContentWrongType) {
  expect_error(R"({"messages":[{"role":"user","content":5}]})", "invalid_type",
               "messages[0].content", "must be a string or an array of text parts");
}

TEST(ParseRequestError, UserContentNull) {
  expect_error(R"({"messages":[{"role":"user","content":null}]})", "invalid_type",
               "messages[0].content", "got null");
}

TEST(ParseRequestError, MessageUnknownField) {
  expect_error(R"({"messages":[{"role":"user","content":"x","tool_calls":[]}]})", "unknown_field",
               "messages[0].tool_calls", "unknown field 'messages[0].tool_calls'");
}

TEST(ParseRequestError, ImageContentPart) {
  expect_error(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})",
               "unsupported_value", "messages[0].content[0].type",
               "content part type 'image_url' is not supported (text only)");
}

TEST(ParseRequestError, NonTextContentPartType) {
  expect_error(R"({"messages":[{"role":"user","content":[{"type":"input_audio"}]}]})",
               "unsupported_value", "messages[0].content[0].type", "'input_audio' is not supported");
}

TEST(ParseRequestError, StreamWrongType) {
  expect_error(chat(R"("stream":"yes")"), "invalid_type", "stream", "must be a boolean");
}

TEST(ParseRequestError, MaxTokensZero) {
  expect_error(chat(R"("max_tokens":0)"), "invalid_value", "max_tokens", "at least 1 (got 0)");
}

TEST(ParseRequestError, MaxTokensNegative) {
  expect_error(chat(R"("max_tokens":-5)"), "invalid_value", "max_tokens", "at least 1 (got -5)");
}

TEST(ParseRequestError, MaxTokensFloat) {
  expect_error(chat(R"("max_tokens":2.5)"), "invalid_type", "max_tokens", "must be an integer");
}

TEST(ParseRequestError, MaxTokensString) {
  expect_error(chat(R"("max_tokens":"10")"), "invalid_type", "max_tokens",
               "must be an integer (got string \"10\")");
}

TEST(ParseRequestError, MaxTokensAndMaxCompletionTokensDisagree) {
  expect_error(chat(R"("max_tokens":3,"max_completion_tokens":4)"), "invalid_value",
               "max_completion_tokens", "disagree");
}

TEST(ParseRequestError, TemperatureOutOfRange) {
  expect_error(chat(R"("temperature":2.5)"), "invalid_value", "temperature",
               "between 0 and 2 (got 2.5)");
}

TEST(ParseRequestError, TemperatureNegative) {
  expect_error(chat(R"("temperature":-1)"), "invalid_value", "temperature", "between 0 and 2");
}

TEST(ParseRequestError, TemperatureWrongType) {
  expect_error(chat(R"("temperature":"hot")"), "invalid_type", "temperature", "must be a number");
}

TEST(ParseRequestError, TopPOutOfRange) {
  expect_error(chat(R"("top_p":1.5)"), "invalid_value", "top_p", "between 0 and 1");
}

TEST(ParseRequestError, SeedFloat) {
  expect_error(chat(R"("seed":1.5)"), "invalid_type", "seed", "must be an integer");
}

TEST(ParseRequestError, StopWrongType) {
  expect_error(chat(R"("stop":5)"), "invalid_type", "stop", "a string or an array of strings");
}

TEST(ParseRequestError, StopElementWrongType) {
  expect_error(chat(R"("stop":["a",1])"), "invalid_type", "stop[1]", "must be a string");
}

TEST(ParseRequestError, StopTooMany) {
  expect_error(chat(R"("stop":["a","b","c","d","e"])"), "invalid_value", "stop",
               "at most 4 strings (got 5)");
}

TEST(ParseRequestError, StopEmptyString) {
  expect_error(chat(R"("stop":[""])"), "invalid_value", "stop", "must not be empty");
}

TEST(ParseRequestError, StreamOptionsUnknownField) {
  expect_error(chat(R"("stream_options":{"foo":1})"), "unknown_field", "stream_options.foo",
               "unknown field 'stream_options.foo'");
}

TEST(ParseRequestError, StreamOptionsWrongType) {
  expect_error(chat(R"("stream_options":true)"), "invalid_type", "stream_options",
               "must be an object");
}

TEST(ParseRequestError, NGreaterThanOne) {
  expect_error(chat(R"("n":2)"), "unsupported_value", "n", "only supported with its default value 1");
}

TEST(ParseRequestError, PresencePenaltyOutOfRange) {
  expect_error(chat(R"("presence_penalty":2.5)"), "invalid_value", "presence_penalty",
               "'presence_penalty' must be between -2 and 2 (got 2.5)");
}

TEST(ParseRequestError, FrequencyPenaltyOutOfRange) {
  expect_error(chat(R"("frequency_penalty":-3)"), "invalid_value", "frequency_penalty",
               "between -2 and 2 (got -3)");
}

TEST(ParseRequestError, FrequencyPenaltyWrongType) {
  expect_error(chat(R"("frequency_penalty":"1")"), "invalid_type", "frequency_penalty",
               "must be a number");
}

TEST(ParseRequestError, TopKBelowMinusOne) {
  expect_error(chat(R"("top_k":-2)"), "invalid_value", "top_k", "(got -2)");
}

TEST(ParseRequestError, TopKFloat) {
  expect_error(chat(R"("top_k":1.5)"), "invalid_type", "top_k", "must be an integer");
}

TEST(ParseRequestError, MinPOutOfRange) {
  expect_error(chat(R"("min_p":1.5)"), "invalid_value", "min_p", "between 0 and 1 (got 1.5)");
}

TEST(ParseRequestError, RepetitionPenaltyZero) {
  expect_error(chat(R"("repetition_penalty":0)"), "invalid_value", "repetition_penalty",
               "greater than 0 (1 turns it off; got 0)");
}

TEST(ParseRequestError, RepetitionPenaltyNegative) {
  expect_error(R"({"prompt":"x","repetition_penalty":-1.5})", "invalid_value",
               "repetition_penalty", "got -1.5", Endpoint::Completions);
}

TEST(ParseRequestError, LogitBiasKeyNotAnInteger) {
  expect_error(chat(R"("logit_bias":{"abc":1})"), "invalid_value", "logit_bias", "got \"abc\"");
  expect_error(chat(R"("logit_bias":{"-1":1})"), "invalid_value", "logit_bias", "got \"-1\"");
  expect_error(chat(R"("logit_bias":{"1.5":1})"), "invalid_value", "logit_bias", "got \"1.5\"");
  expect_error(chat(R"("logit_bias":{"99999999999":1})"), "invalid_value", "logit_bias",
               "got \"99999999999\"");
}

TEST(ParseRequestError, LogitBiasValueOutOfRange) {
  expect_error(chat(R"("logit_bias":{"42":101})"), "invalid_value", "logit_bias",
               "'logit_bias[\"42\"]' must be between -100 and 100 (got 101)");
}

TEST(ParseRequestError, LogitBiasValueWrongType) {
  expect_error(chat(R"("logit_bias":{"42":"up"})"), "invalid_type", "logit_bias",
               "'logit_bias[\"42\"]' must be a number");
}

TEST(ParseRequestError, LogitBiasNotAnObject) {
  expect_error(chat(R"("logit_bias":[1,2])"), "invalid_type", "logit_bias", "must be an object");
}

TEST(ParseRequestError, ChatLogprobsWrongType) {
  expect_error(chat(R"("logprobs":1)"), "invalid_type", "logprobs", "must be a boolean");
}

TEST(ParseRequestError, TopLogprobsOutOfRange) {
  expect_error(chat(R"("logprobs":true,"top_logprobs":21)"), "invalid_value", "top_logprobs",
               "between 0 and 20 (got 21)");
}

TEST(ParseRequestError, TopLogprobsWithoutLogprobs) {
  expect_error(chat(R"("top_logprobs":3)"), "invalid_value", "top_logprobs",
               "needs 'logprobs': true");
}

TEST(ParseRequestError, CompletionLogprobsOutOfRange) {
  expect_error(R"({"prompt":"x","logprobs":6})", "invalid_value", "logprobs",
               "between 0 and 5 (got 6)", Endpoint::Completions);
}

TEST(ParseRequestError, CompletionLogprobsBoolean) {
  expect_error(R"({"prompt":"x","logprobs":true})", "invalid_type", "logprobs",
               "must be an integer", Endpoint::Completions);
}

TEST(ParseRequestError, IgnoredFieldsAreStillTypeChecked) {
  expect_error(chat(R"("store":"yes")"), "invalid_type", "store", "must be a boolean");
  expect_error(chat(R"("parallel_tool_calls":1)"), "invalid_type", "parallel_tool_calls",
               "must be a boolean");
  expect_error(chat(R"("metadata":"x")"), "invalid_type", "metadata", "must be an object");
  expect_error(chat(R"("metadata":{"k":1})"), "invalid_type", "metadata", "object of strings");
  expect_error(chat(R"("user":5)"), "invalid_type", "user", "must be a string");
}

TEST(ParseRequestError, ChatOnlyIgnoredFieldsAreUnknownOnCompletions) {
  expect_error(R"({"prompt":"x","store":false})", "unknown_field", "store", "unknown field",
               Endpoint::Completions);
}

TEST(ParseRequestError, ResponseFormatJson) {
  expect_error(chat(R"("response_format":{"type":"json_object"})"), "unsupported_value",
               "response_format", "default value");
}

TEST(ParseRequestError, ModelWrongType) {
  expect_error(chat(R"("model":7)"), "invalid_type", "model", "must be a string");
}

TEST(ParseRequestError, PromptWrongType) {
  expect_error(R"({"prompt":5})", "invalid_type", "prompt", "must be a string", Endpoint::Completions);
}

TEST(ParseRequestError, PromptEmptyArray) {
  expect_error(R"({"prompt":[]})", "invalid_value", "prompt", "must not be empty",
               Endpoint::Completions);
}

TEST(ParseRequestError, SeveralPrompts) {
  expect_error(R"({"prompt":["a","b"]})", "unsupported_value", "prompt",
               "only one prompt per request is supported (got 2)", Endpoint::Completions);
}

TEST(ParseRequestError, PromptTokenIdWrongType) {
  expect_error(R"({"prompt":[1,"x"]})", "invalid_type", "prompt[1]", "must be a token id",
               Endpoint::Completions);
}

TEST(ParseRequestError, EchoTrue) {
  expect_error(R"({"prompt":"x","echo":true})", "unsupported_value", "echo", "default value false",
               Endpoint::Completions);
}

TEST(ApiErrorJson, HasOpenAIShape) {
  ApiError e(400, "bad thing", "some_code", "field");
  const auto j = e.to_json();
  EXPECT_EQ(j["error"]["message"], "bad thing");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "field");
  EXPECT_EQ(j["error"]["code"], "some_code");
  const auto k = ApiError(500, "boom").to_json();
  EXPECT_EQ(k["error"]["type"], "server_error");
  EXPECT_TRUE(k["error"]["param"].is_null());
  EXPECT_TRUE(k["error"]["code"].is_null());
  EXPECT_EQ(ApiError(401, "x").type(), "authentication_error");
}

}  // namespace
}  // namespace mlxcel::server
