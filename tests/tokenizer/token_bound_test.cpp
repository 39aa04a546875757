// Tokenizer::max_token_bytes() / min_token_count(): the cheap lower bound on the number of tokens
// a text encodes to, and long texts (a server prompt may be 8 MiB) encoding in time and memory
// proportional to them. Expected values were computed independently in Python from the files
// (longest vocabulary entry as input bytes: GPT-2 byte-level entries decoded through the GPT-2
// byte table, tiktoken entries base64-decoded; a naive quadratic BPE for the long runs).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

using namespace mlxcel;
using nlohmann::json;

namespace {

std::string dir(const std::string& name) { return test::testdata(name); }
std::string gguf(const std::string& name) { return test::testdata("llama.cpp-ggml-vocab/ggml-vocab-" + name + ".gguf"); }

EncodeOptions plain() {
  EncodeOptions o;
  o.add_special = false;
  return o;
}

// vocab <unk> a b c ab abc bc ("<unk>" is the longest entry: 5 bytes).
json tiny_model(const json& extra = json::object()) {
  json m = {{"type", "BPE"},
            {"vocab", {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"c", 3}, {"ab", 4}, {"abc", 5}, {"bc", 6}}},
            {"merges", {"a b", "ab c", "b c"}},
            {"unk_token", "<unk>"}};
  m.update(extra);
  return m;
}

uint64_t bytes_of(const json& t) { return Tokenizer::from_hf_json_text(t.dump()).max_token_bytes(); }

// The texts of llama.cpp's tokenizer tests.
std::vector<std::string> sample_texts() {
  std::ifstream in(test::testdata("llama.cpp-ggml-vocab/ggml-vocab-gpt-2.gguf.inp"), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str();
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  for (size_t pos = 0;;) {
    const size_t next = all.find(sep, pos);
    out.push_back(all.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
    if (next == std::string::npos) break;
    pos = next + sep.size();
  }
  out.push_back(std::string(5000, 'a'));
  out.push_back(std::string(5000, ' '));
  out.push_back(std::string(3000, '\n'));
  return out;
}

}  // namespace

TEST(MaxTokenBytes, RealTokenizers) {
  // GPT-2 / Phi-2: the 128-byte "ÃĥÃĤ..." entry (added tokens are shorter: 13 and 31 bytes).
  EXPECT_EQ(Tokenizer::from_path(dir("gpt2-tokenizer")).max_token_bytes(), 128u);
  EXPECT_EQ(Tokenizer::from_path(dir("phi-2-tokenizer")).max_token_bytes(), 128u);
  // Granite: 256 "Ġ"; its vocabulary lacks the byte 0xF1 (lead byte of U+40000..U+7FFFF), which
  // is dropped, so each covered byte may stand for one dropped byte too: 2 * 256.
  EXPECT_EQ(Tokenizer::from_path(dir("granite-3.1-1b-a400m-instruct-tokenizer")).max_token_bytes(), 512u);
  // Falcon's vocabulary lacks control bytes such as 0x03, which are dropped: no bound.
  EXPECT_EQ(Tokenizer::from_path(dir("falcon-tokenizer")).max_token_bytes(), 0u);
  // Llama 2: "▁" x 16 is 48 bytes (for 16 input bytes; the bound stays an upper one).
  EXPECT_EQ(Tokenizer::from_path(dir("llama-2-tokenizer")).max_token_bytes(), 48u);
  // Llama 3 (tiktoken): rank 58040 is 128 spaces.
  EXPECT_EQ(Tokenizer::from_path(dir("llama-3-8b-instruct-tokenizer")).max_token_bytes(), 128u);
  EXPECT_EQ(Tokenizer::from_gguf(gguf("llama-spm")).max_token_bytes(), 48u);
  EXPECT_EQ(Tokenizer::from_gguf(gguf("phi-3")).max_token_bytes(), 48u);
  // Phi-3's tokenizer.json: "<|assistant|>" and others have rstrip, swallowing any whitespace run.
  EXPECT_EQ(Tokenizer::from_path(dir("phi-3-mini-tokenizer")).max_token_bytes(), 0u);
}

TEST(MaxTokenBytes, MinTokenCountRoundsUp) {
  const Tokenizer gpt2 = Tokenizer::from_path(dir("gpt2-tokenizer"));
  EXPECT_EQ(gpt2.min_token_count(0), 0u);
  EXPECT_EQ(gpt2.min_token_count(1), 1u);
  EXPECT_EQ(gpt2.min_token_count(128), 1u);
  EXPECT_EQ(gpt2.min_token_count(129), 2u);
  EXPECT_EQ(gpt2.min_token_count(8u << 20), 65536u);  // 8 MiB / 128
  EXPECT_EQ(Tokenizer::from_path(dir("phi-3-mini-tokenizer")).min_token_count(8u << 20), 0u);
}

TEST(MaxTokenBytes, IsALowerBoundOnRealTexts) {
  const std::vector<std::string> texts = sample_texts();
  for (const char* name : {"gpt2-tokenizer", "phi-2-tokenizer", "llama-2-tokenizer",
                           "llama-3-8b-instruct-tokenizer", "granite-3.1-1b-a400m-instruct-tokenizer"}) {
    const Tokenizer t = Tokenizer::from_path(dir(name));
    ASSERT_GT(t.max_token_bytes(), 0u) << name;
    for (const auto& text : texts) {
      EXPECT_GE(t.encode(text, plain()).size(), t.min_token_count(text.size())) << name << " " << text.substr(0, 40);
    }
  }
}

TEST(MaxTokenBytes, HandMadeCases) {
  // Unknown characters become one unfused <unk> each: the longest entry, "<unk>", counts.
  EXPECT_EQ(bytes_of({{"model", tiny_model()}}), 5u);
  // Fused unknown tokens: "xxxx...x" of any length is one token.
  EXPECT_EQ(bytes_of({{"model", tiny_model({{"fuse_unk", true}})}}), 0u);
  // No unknown token: unknown characters are dropped.
  json no_unk = tiny_model();
  no_unk.erase("unk_token");
  EXPECT_EQ(bytes_of({{"model", no_unk}}), 0u);
  // Lowercase may shrink a character to a third (KELVIN SIGN to "k"): 5 * 3.
  EXPECT_EQ(bytes_of({{"model", tiny_model()}, {"normalizer", {{"type", "Lowercase"}}}}), 15u);
  // Replace "xy" by "z" halves at most: 5 * 2; by "" removes without bound.
  const json half = {{"type", "Replace"}, {"pattern", {{"String", "xy"}}}, {"content", "z"}};
  EXPECT_EQ(bytes_of({{"model", tiny_model()}, {"normalizer", half}}), 10u);
  const json drop = {{"type", "Replace"}, {"pattern", {{"String", "x"}}}, {"content", ""}};
  EXPECT_EQ(bytes_of({{"model", tiny_model()}, {"normalizer", drop}}), 0u);
  EXPECT_EQ(bytes_of({{"model", tiny_model()}, {"normalizer", {{"type", "Strip"}}}}), 0u);
  // Whitespace removes the spaces between words.
  EXPECT_EQ(bytes_of({{"model", tiny_model()}, {"pre_tokenizer", {{"type", "Whitespace"}}}}), 0u);
  // A long added token (raw) sets the bound; one with lstrip makes it unbounded.
  const std::string long_token(40, '#');
  EXPECT_EQ(bytes_of({{"model", tiny_model()}, {"added_tokens", {{{"id", 7}, {"content", long_token}}}}}), 40u);
  EXPECT_EQ(bytes_of({{"model", tiny_model()},
                      {"added_tokens", {{{"id", 7}, {"content", "<x>"}, {"lstrip", true}}}}}),
            0u);
}

// A long run of one letter is one pre-token of a megabyte: merging must stay O(n log n).
TEST(LongText, RunOfOneLetterGpt2) {
  const Tokenizer t = Tokenizer::from_path(dir("gpt2-tokenizer"));
  const std::vector<int32_t> ids = t.encode(std::string(1 << 20, 'a'), plain());
  ASSERT_EQ(ids.size(), 262144u);  // "aaaa" (24794) per 4 bytes
  for (int32_t id : ids) ASSERT_EQ(id, 24794);
}

TEST(LongText, RunOfOneLetterLlama3) {
  const Tokenizer t = Tokenizer::from_path(dir("llama-3-8b-instruct-tokenizer"));
  const std::vector<int32_t> ids = t.encode(std::string(1 << 20, 'a'), plain());
  ASSERT_EQ(ids.size(), 131072u);  // "aaaaaaaa" (70540) per 8 bytes
  for (int32_t id : ids) ASSERT_EQ(id, 70540);
}

TEST(LongText, RunOfOneLetterLlama2) {
  // SentencePiece-style: the whole text is one word "▁aaaa...": "▁a" (263), then 1,048,575 a's
  // as 262,143 "aaaa" (27137) and the remaining three as "aa" (7340) + "a" (29874).
  const Tokenizer t = Tokenizer::from_path(dir("llama-2-tokenizer"));
  const std::vector<int32_t> ids = t.encode(std::string(1 << 20, 'a'), plain());
  ASSERT_EQ(ids.size(), 262146u);
  EXPECT_EQ(ids.front(), 263);
  for (size_t i = 1; i + 2 < ids.size(); ++i) ASSERT_EQ(ids[i], 27137) << i;
  EXPECT_EQ(ids[ids.size() - 2], 7340);
  EXPECT_EQ(ids.back(), 29874);
}
