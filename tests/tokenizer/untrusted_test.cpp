// Hostile tokenizer files: every case is refused with FormatError naming file, field and value
// before anything proportional to the hostile value is allocated or computed. Inputs are small, so
// a regression fails the error check instead of allocating gigabytes or hanging (except where
// noted, a regression would throw nothing or something else).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "mlxcel/errors.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

using namespace mlxcel;
using nlohmann::json;
using test::has;
using test::message_of;
using test::tiny_model;
using test::write_file;

namespace {

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

// ---- JSON syntax: depth and numbers --------------------------------------------------------

TEST(UntrustedTokenizerJson, DeepNestingInTokenizerJsonFile) {
  test::TempDir dir;
  const std::string path = write_file(dir, "tokenizer.json", "{\"model\": " + nested(100000) + "}");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json(path); });
  EXPECT_TRUE(has(msg, "[tokenizer] invalid JSON")) << msg;
  EXPECT_TRUE(has(msg, path)) << msg;
  // The object is level 1, the '[' at byte 10 level 2, so level 129 is at byte 10 + 127.
  EXPECT_TRUE(has(msg, "nested deeper than 128 levels at byte 137")) << msg;
}

TEST(UntrustedTokenizerJson, DeepNestingInTokenizerConfig) {
  test::TempDir dir;
  const std::string tj = write_file(dir, "tokenizer.json", json{{"model", tiny_model()}}.dump());
  const std::string config = write_file(dir, "tokenizer_config.json", "{\"x\": " + nested(100000) + "}");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json(tj, config); });
  EXPECT_TRUE(has(msg, "invalid JSON")) << msg;
  EXPECT_TRUE(has(msg, config)) << msg;
  EXPECT_TRUE(has(msg, "nested deeper than 128 levels")) << msg;
}

TEST(UntrustedTokenizerJson, DeepNestingInText) {
  const std::string msg = message_of<FormatError>([] { Tokenizer::from_hf_json_text(nested(100000)); });
  EXPECT_TRUE(has(msg, "invalid JSON (tokenizer.json, nested deeper than 128 levels at byte 128)")) << msg;
}

TEST(UntrustedTokenizerJson, NumberOverflowInTokenizerJson) {
  const std::string text = R"({"model": {"type": "BPE", "vocab": {"a": 1e400}, "merges": []}})";
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(text); });
  EXPECT_TRUE(has(msg, "[tokenizer] invalid JSON (tokenizer.json")) << msg;
  EXPECT_TRUE(has(msg, "1e400")) << msg;
}

TEST(UntrustedTokenizerJson, NumberOverflowInTiktokenConfig) {
  test::TempDir dir;
  const std::string model = write_file(dir, "tokenizer.model", "IQ== 0\n");
  const std::string config = write_file(dir, "tokenizer_config.json", R"({"model_max_length": 1e400})");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_tiktoken(model, config); });
  EXPECT_TRUE(has(msg, "invalid JSON")) << msg;
  EXPECT_TRUE(has(msg, config)) << msg;
  EXPECT_TRUE(has(msg, "1e400")) << msg;
}

// ---- ids that would size the tables ------------------------------------------------------------
// The ids below are 5,000,000: an id of 100,000,000 made the tables 6.5 GB, and should the bound
// regress these tests fail having allocated only ~200 MB.

TEST(UntrustedTokenizerJson, HugeVocabId) {
  json m = tiny_model();
  m["vocab"]["b"] = 5000000;
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(json{{"model", m}}.dump()); });
  EXPECT_TRUE(has(msg, "token id is larger than the file justifies")) << msg;
  EXPECT_TRUE(has(msg, "tokenizer.json, field model.vocab, token \"b\", value 5000000")) << msg;
  // 3 vocabulary entries + 0 added tokens + 0 config entries + 1024 slack
  EXPECT_TRUE(has(msg, "[0, 1027)")) << msg;
}

TEST(UntrustedTokenizerJson, HugeAddedTokenId) {
  const json t = {{"model", tiny_model()},
                  {"added_tokens", {{{"id", 5000000}, {"content", "<x>"}, {"special", true}}}}};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(t.dump()); });
  EXPECT_TRUE(has(msg, "token id is larger than the file justifies")) << msg;
  EXPECT_TRUE(has(msg, "field added_tokens.id, token \"<x>\", value 5000000")) << msg;
  EXPECT_TRUE(has(msg, "[0, 1028)")) << msg;  // 3 + 1 + 1024
}

TEST(UntrustedTokenizerJson, HugeAddedTokensDecoderId) {
  const json config = {{"added_tokens_decoder", {{"5000000", {{"content", "<y>"}, {"special", true}}}}}};
  const std::string msg = message_of<FormatError>(
      [&] { Tokenizer::from_hf_json_text(json{{"model", tiny_model()}}.dump(), config.dump(), "tok.json"); });
  EXPECT_TRUE(has(msg, "tok.json config, field added_tokens_decoder, token \"<y>\", value 5000000")) << msg;
}

// An id just inside the slack is a gap, not an error: tables grow by at most kIdSlack entries.
TEST(UntrustedTokenizerJson, IdWithinSlackIsAccepted) {
  json m = tiny_model();
  m["vocab"]["b"] = 1026;  // limit 1027
  const Tokenizer t = Tokenizer::from_hf_json_text(json{{"model", m}}.dump());
  EXPECT_EQ(t.vocab_size(), 1027);
  EXPECT_EQ(t.id_to_token(1026), "b");
}

// A rank of 162,725,528 made 5.9 GB of tables and then std::bad_alloc.
TEST(UntrustedTiktoken, HugeRank) {
  test::TempDir dir;
  const std::string model = write_file(dir, "tokenizer.model", "IQ== 0\nIg== 5000000\nIw== 2\n");
  const std::string config = write_file(dir, "tokenizer_config.json", "{}");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_tiktoken(model, config); });
  EXPECT_TRUE(has(msg, "token id is larger than the file justifies")) << msg;
  EXPECT_TRUE(has(msg, model + ", line 2, field rank, token \"\\\"\", value 5000000")) << msg;
  EXPECT_TRUE(has(msg, "[0, 1028): 4 lines + 1024")) << msg;  // 3 newlines + 1
}

TEST(UntrustedTiktoken, HugeAddedTokenIdInConfig) {
  test::TempDir dir;
  const std::string model = write_file(dir, "tokenizer.model", "IQ== 0\nIg== 1\n");
  const std::string config =
      write_file(dir, "tokenizer_config.json", R"({"added_tokens_decoder": {"5000000": {"content": "<z>"}}})");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_tiktoken(model, config); });
  EXPECT_TRUE(has(msg, config + ", field added_tokens_decoder, token \"<z>\", value 5000000")) << msg;
  EXPECT_TRUE(has(msg, "[0, 1027): 2 ranks + 1 added tokens + 1024")) << msg;
}

// ---- scores: NaN breaks the sort's ordering (undefined behaviour, out-of-bounds in practice) ---

TEST(UntrustedGgufVocab, NanScore) {
  json tokens = json::array(), scores = json::array();
  for (int i = 0; i < 64; ++i) {
    tokens.push_back("t" + std::to_string(i));
    scores.push_back(i % 3 == 0 ? std::nan("") : -static_cast<double>(i));
  }
  const json md = {{"tokenizer.ggml.model", "llama"}, {"tokenizer.ggml.tokens", tokens},
                   {"tokenizer.ggml.scores", scores}};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_gguf_metadata(md, "v.gguf"); });
  EXPECT_TRUE(has(msg, "score is NaN (v.gguf, key tokenizer.ggml.scores, index 0, value nan)")) << msg;
}

TEST(UntrustedLlama2c, NanScore) {
  test::TempDir dir;
  std::string bin;
  auto put = [&](const void* p, size_t n) { bin.append(static_cast<const char*>(p), n); };
  const int32_t max_len = 4;
  put(&max_len, 4);
  for (int i = 0; i < 300; ++i) {
    const float score = i == 7 ? std::nanf("") : static_cast<float>(-i);
    const int32_t len = 1;
    const char c = static_cast<char>('a' + i % 26);
    put(&score, 4);
    put(&len, 4);
    put(&c, 1);
  }
  const std::string path = write_file(dir, "tok.bin", bin);
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_llama2c(path); });
  EXPECT_TRUE(has(msg, "token 7 score is NaN at offset 67")) << msg;  // 4 + 7 * 9
  EXPECT_TRUE(has(msg, path)) << msg;
}

// ---- files that are not files ------------------------------------------------------------------

// /dev/zero never ends and a FIFO without a writer never answers: every tokenizer file is checked
// to be a regular file (and at most kMaxTokenizerFileBytes) before a byte is read. Before, the
// llama2.c, tiktoken and tokenizer.json readers read /dev/zero until memory ran out.
TEST(UntrustedFiles, DevicesAndFifosAreRefusedBeforeReading) {
  test::TempDir dir;
  const std::string fifo = dir.file("tokenizer.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {std::string("/dev/zero"), fifo}) {
    std::string msg = message_of<IoError>([&] { Tokenizer::from_llama2c(path); });
    EXPECT_TRUE(has(msg, "llama2.c tokenizer is not a regular file")) << msg;
    EXPECT_TRUE(has(msg, path)) << msg;
    msg = message_of<IoError>([&] { Tokenizer::from_tiktoken(path, ""); });
    EXPECT_TRUE(has(msg, "tiktoken tokenizer.model is not a regular file")) << msg;
    msg = message_of<IoError>([&] { Tokenizer::from_hf_json(path); });
    EXPECT_TRUE(has(msg, "is not a regular file")) << msg;
    EXPECT_TRUE(has(msg, path)) << msg;
  }
}

// ---- text growth through normalizers and decoders -----------------------------------------------

TEST(UntrustedTokenizerJson, NormalizerReplaceThatMultipliesText) {
  const json t = {{"model", tiny_model()},
                  {"normalizer",
                   {{"type", "Replace"}, {"pattern", {{"String", "a"}}}, {"content", std::string(1000, 'b')}}}};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(t.dump()); });
  EXPECT_TRUE(has(msg, "normalizer can lengthen text more than 64-fold")) << msg;
  EXPECT_TRUE(has(msg, "tokenizer.json, field normalizer, growth 1000 bytes per byte")) << msg;
}

TEST(UntrustedTokenizerJson, ChainedNormalizersMultiply) {
  // Each Replace " " -> "xxxxx" multiplies by 5; three of them 125 > 64.
  const json rep = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "     "}};
  const json t = {{"model", tiny_model()},
                  {"normalizer", {{"type", "Sequence"}, {"normalizers", {rep, rep, rep}}}}};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(t.dump()); });
  EXPECT_TRUE(has(msg, "growth 125 bytes per byte")) << msg;
}

TEST(UntrustedTokenizerJson, RegexReplaceMatchingEmptyStrings) {
  // "x*" matches the empty string before every character: 1 + 70 per byte, plus 70 at the end.
  const json t = {{"model", tiny_model()},
                  {"normalizer",
                   {{"type", "Replace"}, {"pattern", {{"Regex", "x*"}}}, {"content", std::string(70, 'c')}}}};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(t.dump()); });
  EXPECT_TRUE(has(msg, "growth 141 bytes per byte")) << msg;
}

TEST(UntrustedTokenizerJson, DecoderReplaceThatMultipliesText) {
  const json t = {{"model", tiny_model()},
                  {"decoder", {{"type", "Replace"}, {"pattern", {{"String", "ab"}}}, {"content", std::string(200, 'z')}}}};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(t.dump()); });
  EXPECT_TRUE(has(msg, "decoder can lengthen text more than 64-fold (tokenizer.json, field decoder, growth 100")) << msg;
}

// ---- regex work ---------------------------------------------------------------------------------

// "(a+)+b" on a run of 20 a's without b backtracks about 2^21 steps per start position; under
// PCRE2's default limit of ten million steps per match each of the 500 matches ("c") below ran for
// tens of milliseconds and no error came: the work was unbounded in the text's length.
TEST(UntrustedRegex, CatastrophicBacktrackingFailsFast) {
  const json t = {{"model", tiny_model()},
                  {"pre_tokenizer",
                   {{"type", "Split"}, {"pattern", {{"Regex", "(a+)+b|c"}}}, {"behavior", "Isolated"}}}};
  const Tokenizer tok = Tokenizer::from_hf_json_text(t.dump());
  std::string text;
  for (int i = 0; i < 500; ++i) text += "aaaaaaaaaaaaaaaaaaaa c ";
  const std::string msg = message_of<FormatError>([&] { tok.encode(text); });
  EXPECT_TRUE(has(msg, "regex needs more matching work than the text justifies")) << msg;
  EXPECT_TRUE(has(msg, "tokenizer.json pre_tokenizer Split, pattern.Regex, pattern \"(a+)+b|c\"")) << msg;
  EXPECT_TRUE(has(msg, "subject 11500 bytes, at byte 0")) << msg;
  EXPECT_TRUE(has(msg, "budget 736128 steps")) << msg;  // 64 * (11500 + 2)
}

// The same pattern on text where it never backtracks much is fine.
TEST(UntrustedRegex, BacktrackingPatternOnBenignText) {
  const json t = {{"model", tiny_model()},
                  {"pre_tokenizer",
                   {{"type", "Split"}, {"pattern", {{"Regex", "(a+)+b|c"}}}, {"behavior", "Isolated"}}}};
  const Tokenizer tok = Tokenizer::from_hf_json_text(t.dump());
  EncodeOptions o;
  o.add_special = false;
  // "ab" is one piece (merged by "a b"); "c" has no token and is dropped.
  EXPECT_EQ(tok.encode("abcab", o), (std::vector<int32_t>{2, 2}));
}

// ---- merges with several spaces --------------------------------------------------------------

// A merge line longer than any token plus one space cannot name two tokens whose concatenation
// is a token, so it is skipped without hashing its splits (before: one hash of the line per space,
// quadratic in the line).
TEST(UntrustedTokenizerJson, LongSpacedMergeIsSkipped) {
  json m = tiny_model();
  m["merges"] = {"a b", std::string(20000, ' ')};
  const Tokenizer t = Tokenizer::from_hf_json_text(json{{"model", m}}.dump());
  EncodeOptions o;
  o.add_special = false;
  EXPECT_EQ(t.encode("ab", o), (std::vector<int32_t>{2}));
}

TEST(UntrustedTokenizerJson, SpacedMergesBeyondTheWorkBudget) {
  // One vocabulary token of 2000 spaces lets 2001-space merge lines through the length check;
  // each costs 2000 splits x 2001 bytes = 4 MB hashed against 1 MiB + 64 x 2001 allowed.
  json m = tiny_model();
  m["vocab"][std::string(2000, ' ')] = 3;
  m["merges"] = {"a b", std::string(2001, ' ')};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(json{{"model", m}}.dump()); });
  EXPECT_TRUE(has(msg, "merges with several spaces need more work than the file justifies")) << msg;
  EXPECT_TRUE(has(msg, "tokenizer.json, merge #1")) << msg;
}
