// The server on the real default model (models/stories260K) through RuntimeEngine: batched decode
// gives the same text as the runtime's single-sequence generate loop, usage counts match the
// tokenizer, the KV pool is the plan's, a load test leaks nothing, and the official openai npm
// client works against it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>

#include <nlohmann/json.hpp>

#include "arch/registry.h"
#include "load_runner.h"
#include "mlxcel/memory.h"
#include "runtime/generate.h"
#include "runtime/random_model.h"
#include "server/runtime_engine.h"
#include "server_fixture.h"
#include "support/test_paths.h"

namespace mlxcel::server::test {
namespace {

using nlohmann::json;

const std::string kModelDir = std::string(MLXCEL_SOURCE_DIR) + "/models/stories260K";

RunConfig small_run(const ModelSpec& spec, uint64_t sequences) {
  RunConfig run = default_run_config(spec);
  run.context = 256;
  run.sequences = sequences;
  run.threads = 2;
  return run;
}

// Greedy continuation of `prompt` from the runtime's own single-sequence loop (no server, no
// batching), as text: decode(prompt + generated) after decode(prompt), so that a leading space of
// the first generated token is kept as the server keeps it.
std::string reference_text(const std::string& prompt, uint64_t max_tokens) {
  const ModelSpec spec = load_model_spec(kModelDir);
  runtime::LoadOptions lo;
  lo.run = small_run(spec, 1);
  lo.progress = false;
  auto model = runtime::Model::load(spec, lo);
  const Tokenizer tok = Tokenizer::from_path(spec.root);
  const std::vector<int32_t> ids = tok.encode(prompt);
  runtime::GenerateOptions go;
  go.max_tokens = max_tokens;
  const runtime::GenerateResult r = runtime::generate(*model, tok, ids, go, nullptr);
  std::vector<int32_t> all = ids;
  all.insert(all.end(), r.tokens.begin(), r.tokens.end());
  const DecodeOptions skip{.skip_special = true};
  const std::string full = tok.decode(all, skip);
  const std::string head = tok.decode(ids, skip);
  EXPECT_EQ(full.substr(0, head.size()), head);
  return full.substr(head.size());
}

class E2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    spec_ = new ModelSpec(load_model_spec(kModelDir));
    runtime::LoadOptions lo;
    lo.run = small_run(*spec_, 4);
    lo.progress = false;
    engine_ = new RuntimeEngine(*spec_, lo, "stories260K");
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete spec_;
  }
  static ModelSpec* spec_;
  static RuntimeEngine* engine_;
};
ModelSpec* E2eTest::spec_ = nullptr;
RuntimeEngine* E2eTest::engine_ = nullptr;

TEST_F(E2eTest, BatchedGreedyTextEqualsTheSingleSequenceLoop) {
  const std::vector<std::string> prompts = {"Once upon a time", "The cat", "Lily and Ben went",
                                            "One day"};
  // References first: the kernels' thread pool serves one forward pass at a time, and while the
  // server runs only its scheduler thread uses it.
  std::vector<std::string> expected;
  for (const auto& p : prompts) expected.push_back(reference_text(p, 40));
  RunningServer server(*engine_);
  std::vector<std::future<std::string>> answers;
  for (const auto& p : prompts) {
    answers.push_back(std::async(std::launch::async, [&server, p] {
      auto c = server.client();
      auto res = c.Post("/v1/completions",
                        json({{"prompt", p}, {"max_tokens", 40}, {"temperature", 0}}).dump(),
                        "application/json");
      if (!res || res->status != 200) return std::string("<failed>");
      return json::parse(res->body)["choices"][0]["text"].get<std::string>();
    }));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(answers[i].get(), expected[i]) << prompts[i];
  }
}

TEST_F(E2eTest, UsageCountsTheTokenizersTokens) {
  RunningServer server(*engine_);
  auto c = server.client();
  auto res = c.Post("/v1/completions",
                    json({{"prompt", "Once upon a time"}, {"max_tokens", 7}, {"temperature", 0}})
                        .dump(),
                    "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  const Tokenizer tok = Tokenizer::from_path(spec_->root);
  EXPECT_EQ(j["usage"]["prompt_tokens"], tok.encode("Once upon a time").size());
  EXPECT_EQ(j["usage"]["completion_tokens"], 7);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
}

// The request's sampling fields reach the real model's logits: logprobs are consistent with
// greedy choice, top_k 1 is greedy at any temperature, logit_bias bans and forces tokens.
TEST_F(E2eTest, SamplingFieldsAndLogprobsOnTheRealModel) {
  RunningServer server(*engine_);
  auto c = server.client();
  auto complete = [&](json body) {
    body["prompt"] = "Once upon a time";
    body["max_tokens"] = 8;
    auto res = c.Post("/v1/completions", body.dump(), "application/json");
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no response");
    return res ? json::parse(res->body)["choices"][0] : json();
  };
  const json greedy = complete({{"temperature", 0}, {"logprobs", 1}});
  const std::string text = greedy["text"];
  const json& lp = greedy["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 8u) << greedy.dump();
  std::string joined;
  for (size_t i = 0; i < 8; ++i) {
    joined += lp["tokens"][i].get<std::string>();
    const double chosen = lp["token_logprobs"][i];
    EXPECT_LE(chosen, 0.0);
    // greedy: the sampled token is the most likely one, so its top-1 entry is itself
    ASSERT_EQ(lp["top_logprobs"][i].size(), 1u);
    EXPECT_EQ(lp["top_logprobs"][i].begin().key(), lp["tokens"][i].get<std::string>());
    EXPECT_DOUBLE_EQ(lp["top_logprobs"][i].begin().value().get<double>(), chosen);
  }
  EXPECT_EQ(joined, text);

  EXPECT_EQ(complete({{"temperature", 1.2}, {"seed", 5}, {"top_k", 1}})["text"], text);

  const Tokenizer tok = Tokenizer::from_path(spec_->root);
  // Every id with greedy's first text (a byte-fallback token may spell it too) is banned.
  json ban = json::object();
  for (int32_t id = 0; id < static_cast<int32_t>(engine_->vocab_size()); ++id) {
    if (tok.token_to_piece(id) == lp["tokens"][0]) ban[std::to_string(id)] = -100;
  }
  ASSERT_FALSE(ban.empty());
  const json banned = complete({{"temperature", 0}, {"logprobs", 0}, {"logit_bias", ban}});
  EXPECT_NE(banned["logprobs"]["tokens"][0], lp["tokens"][0]) << banned.dump();

  const int32_t dog = tok.encode(" dog", EncodeOptions{.add_special = false}).back();
  const std::string piece = tok.token_to_piece(dog);
  const json forced =
      complete({{"temperature", 1}, {"seed", 3}, {"logit_bias", {{std::to_string(dog), 100}}}});
  std::string expected;
  for (int i = 0; i < 8; ++i) expected += piece;
  EXPECT_EQ(forced["text"], expected);
}

TEST_F(E2eTest, ChatUsesTheFallbackTemplate) {
  EXPECT_TRUE(engine_->chat_template().fallback);
  RunningServer server(*engine_);
  auto c = server.client();
  const json body = {{"messages", {{{"role", "user"}, {"content", "Tell a story"}}}},
                     {"max_tokens", 10}};
  auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  // Fallback format: BOS text, "User: Tell a story\n\nAssistant:", tokenized without adding BOS.
  const Tokenizer tok = Tokenizer::from_path(spec_->root);
  const std::string rendered = engine_->render_chat(body["messages"]).text;
  EXPECT_EQ(j["usage"]["prompt_tokens"],
            tok.encode(rendered, EncodeOptions{.add_special = false}).size());
  EXPECT_NE(rendered.find("User: Tell a story"), std::string::npos) << rendered;
}

TEST(E2eTemplate, ModelChatTemplateRendersAndItsRaiseIsA400) {
  // stories260K plus a Jinja chat template that writes BOS itself and refuses system messages.
  mlxcel::test::TempDir dir;
  for (const auto& entry : std::filesystem::directory_iterator(kModelDir)) {
    std::filesystem::copy_file(entry.path(), dir.path() / entry.path().filename());
  }
  std::ofstream(dir.file("chat_template.jinja"))
      << "{% for m in messages %}{% if m.role == 'system' %}"
         "{{ raise_exception('System messages are not supported') }}{% endif %}"
         "{{ bos_token + '[' + m.role + '] ' + m.content + '\\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{ '[assistant]' }}{% endif %}";
  const ModelSpec spec = load_model_spec(dir.path().string());
  runtime::LoadOptions lo;
  lo.run = small_run(spec, 1);
  lo.progress = false;
  RuntimeEngine engine(spec, lo, "templated");
  EXPECT_FALSE(engine.chat_template().fallback);

  const json messages = json::array({{{"role", "user"}, {"content", "Hi"}}});
  const ChatPrompt p = engine.render_chat(messages);
  EXPECT_EQ(p.text, "<s>[user] Hi\n[assistant]");
  EXPECT_FALSE(p.add_special);
  // "<s>" written by the template is the BOS token (id 1), not text.
  const std::vector<int32_t> ids = engine.tokenize(p.text, p.add_special);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 1), 1);

  RunningServer server(engine);
  auto c = server.client();
  auto ok = c.Post("/v1/chat/completions",
                   json({{"messages", messages}, {"max_tokens", 4}}).dump(), "application/json");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(json::parse(ok->body)["usage"]["prompt_tokens"], ids.size());
  auto refused = c.Post(
      "/v1/chat/completions",
      json({{"messages", {{{"role", "system"}, {"content", "x"}}, {{"role", "user"}, {"content", "y"}}}}})
          .dump(),
      "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  const json e = json::parse(refused->body)["error"];
  EXPECT_EQ(e["code"], "invalid_messages");
  EXPECT_EQ(e["message"],
            "the chat template rejected the messages: System messages are not supported");
}

TEST_F(E2eTest, KvPoolIsThePlansAndFillsWhileGenerating) {
  RunningServer server(*engine_);
  auto c = server.client();
  const uint64_t planned = engine_->model().plan().kv.total;
  auto metrics = [&] { return c.Get("/metrics")->body; };
  EXPECT_NE(metrics().find("mlxcel_kv_cache_bytes " + std::to_string(planned) + "\n"),
            std::string::npos);
  const int fd = raw_post(server.port(), "/v1/completions",
                          json({{"prompt", "Once upon a time"}, {"max_tokens", 200},
                                {"stream", true}})
                              .dump());
  ASSERT_NE(read_until(fd, "data: {", 5000).find("data: {"), std::string::npos);
  EXPECT_EQ(metrics().find("mlxcel_kv_cache_used_bytes 0\n"), std::string::npos) << metrics();
  ::close(fd);
  EXPECT_TRUE(eventually(
      [&] { return metrics().find("mlxcel_kv_cache_used_bytes 0\n") != std::string::npos; }));
}

TEST_F(E2eTest, LoadTestLeavesMemoryAtItsPostLoadBaseline) {
  ServerOptions so;
  so.queue_size = 4;
  RunningServer server(*engine_, so);
  const uint64_t baseline = active_memory();
  const LoadResult r =
      run_load(server.port(), 8, 200, {"Once upon a time", "The dog", "Tom had a"}, 12);
  for (const auto& p : r.problems) ADD_FAILURE() << p;
  for (const auto& [status, count] : r.by_status) {
    std::printf("e2e load: status %d x %llu\n", status, static_cast<unsigned long long>(count));
    EXPECT_TRUE(status == 200 || status == 503) << status << " x " << count;
  }
  EXPECT_TRUE(eventually([&] { return active_memory() == baseline; }, 5000))
      << "active " << active_memory() << " after the run vs " << baseline << " before";
}

// A tiny random Qwen3 model whose tokenizer has three added (non-special) tokens spelling one
// Hermes tool call, and a Hermes-style chat template written here. The client forces the reply
// [<tool_call>, the call's JSON, </tool_call>, EOS] honestly through the sampling fields: logit_bias
// 100, 95, 90, 85 on those tokens and repetition_penalty 3, which divides a token's (positive)
// logit once it has been generated, so each step the next one of the four wins at temperature 0.
// The template prints "<tool_call>" only for earlier calls, so the prompt never holds the tokens.
void write_tool_model(const std::filesystem::path& dir) {
  std::ifstream cfg(std::string(MLXCEL_TESTDATA) + "/configs/Qwen__Qwen3-0.6B/config.json");
  runtime::RandomModelOptions o;
  o.dtype = DType::F32;
  o.layers = 2;
  o.hidden = 64;
  o.heads = 4;
  o.kv_heads = 2;
  o.intermediate = 128;
  o.vocab = 300;
  runtime::make_random_model(json::parse(cfg), o, dir.string());
  json tok = json::parse(std::ifstream(dir / "tokenizer.json"));
  int id = 258;
  for (const char* text : {"<tool_call>", R"({"name": "get_weather", "arguments": {"city": "Paris"}})",
                           "</tool_call>"}) {
    tok["added_tokens"].push_back({{"id", id++}, {"content", text}, {"single_word", false},
                                   {"lstrip", false}, {"rstrip", false}, {"normalized", false},
                                   {"special", false}});
  }
  std::ofstream(dir / "tokenizer.json") << tok.dump(1);
  std::ofstream(dir / "chat_template.jinja") << R"({%- if tools %}<|im_start|>system
You may call these functions, one JSON object per call:
<tools>
{%- for t in tools %}
{{ t | tojson }}
{%- endfor %}
</tools><|im_end|>
{% endif %}
{%- for m in messages %}
{%- if m.role == 'assistant' and m.tool_calls %}<|im_start|>assistant
{%- for c in m.tool_calls %}
<tool_call>
{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}
</tool_call>
{%- endfor %}<|im_end|>
{% elif m.role == 'tool' %}<|im_start|>user
<tool_response>
{{ m.content }}
</tool_response><|im_end|>
{% else %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %})";
}

// Runs tests/node/openai_client_test.mjs with these arguments; its output and exit status.
std::pair<int, std::string> run_node_client(const std::string& args) {
  const std::filesystem::path node_dir = std::filesystem::path(MLXCEL_SOURCE_DIR) / "tests/node";
  const std::string cmd =
      "timeout 120 node " + (node_dir / "openai_client_test.mjs").string() + " " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  return {::pclose(pipe), output};
}

TEST(E2eTools, OfficialOpenAINodeClientToolCalls) {
  const std::filesystem::path node_dir = std::filesystem::path(MLXCEL_SOURCE_DIR) / "tests/node";
  if (!std::filesystem::exists(node_dir / "node_modules/openai/package.json")) {
    GTEST_SKIP() << "tests/node/node_modules/openai is missing: run `npm ci --prefix tests/node`";
  }
  mlxcel::test::TempDir dir;
  write_tool_model(dir.path());
  const ModelSpec spec = load_model_spec(dir.path().string());
  runtime::LoadOptions lo;
  lo.run = small_run(spec, 2);
  lo.run.context = 1024;  // byte-level tokens: the tools alone are ~300
  lo.progress = false;
  RuntimeEngine engine(spec, lo, "tool-model");
  ASSERT_EQ(engine.tool_format(), ToolFormat::Hermes);
  RunningServer server(engine);
  const auto [status, output] =
      run_node_client("http://127.0.0.1:" + std::to_string(server.port()) + "/v1 unused tools");
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find(" checks passed"), std::string::npos) << output;
  EXPECT_EQ(output.find("not ok"), std::string::npos) << output;
}

TEST_F(E2eTest, OfficialOpenAINodeClient) {
  const std::filesystem::path node_dir = std::filesystem::path(MLXCEL_SOURCE_DIR) / "tests/node";
  if (!std::filesystem::exists(node_dir / "node_modules/openai/package.json")) {
    GTEST_SKIP() << "tests/node/node_modules/openai is missing: run `npm ci --prefix tests/node` "
                    "(test.sh does)";
  }
  ServerOptions so;
  so.api_key = "e2e-key";
  RunningServer server(*engine_, so);
  const std::string cmd = "timeout 120 node " + (node_dir / "openai_client_test.mjs").string() +
                          " http://127.0.0.1:" + std::to_string(server.port()) +
                          "/v1 e2e-key 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find(" checks passed"), std::string::npos) << output;
  EXPECT_EQ(output.find("not ok"), std::string::npos) << output;
}

}  // namespace
}  // namespace mlxcel::server::test
