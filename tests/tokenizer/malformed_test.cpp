// Malformed tokenizer files: each case throws the documented error type with a message naming
// what is wrong and where.
#include <gtest/gtest.h>

#include <fstream>

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

TEST(MalformedTokenizerJson, BadJsonSyntax) {
  test::TempDir dir;
  const std::string path = write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", ");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json(path); });
  EXPECT_TRUE(has(msg, "[tokenizer] invalid JSON")) << msg;
  EXPECT_TRUE(has(msg, path)) << msg;
}

TEST(MalformedTokenizerJson, UnknownModelType) {
  const std::string msg = message_of<FormatError>(
      [] { Tokenizer::from_hf_json_text(json{{"model", {{"type", "Foo"}, {"vocab", json::object()}}}}.dump()); });
  EXPECT_TRUE(has(msg, "unsupported model type")) << msg;
  EXPECT_TRUE(has(msg, "model.type")) << msg;
  EXPECT_TRUE(has(msg, "\"Foo\"")) << msg;
}

TEST(MalformedTokenizerJson, MergeNamesUnknownToken) {
  json m = tiny_model();
  m["merges"] = {"a b", "a zz"};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(json{{"model", m}}.dump()); });
  EXPECT_TRUE(has(msg, "merge names a token that is not in the vocabulary")) << msg;
  EXPECT_TRUE(has(msg, "#1")) << msg;
  EXPECT_TRUE(has(msg, "right token \"zz\"")) << msg;
}

TEST(MalformedTokenizerJson, MergeResultNotInVocabulary) {
  json m = tiny_model();
  m["merges"] = {"b a"};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(json{{"model", m}}.dump()); });
  EXPECT_TRUE(has(msg, "merge result is not in the vocabulary")) << msg;
  EXPECT_TRUE(has(msg, "\"ba\"")) << msg;
}

TEST(MalformedTokenizerJson, MergeWithoutSpace) {
  json m = tiny_model();
  m["merges"] = {"ab"};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(json{{"model", m}}.dump()); });
  EXPECT_TRUE(has(msg, "merge is not two tokens separated by a space")) << msg;
}

TEST(MalformedTokenizerJson, MissingModel) {
  const std::string msg = message_of<FormatError>([] { Tokenizer::from_hf_json_text("{\"normalizer\": null}"); });
  EXPECT_TRUE(has(msg, "missing model object")) << msg;
}

TEST(MalformedTokenizerJson, VocabIdIsNotAnInteger) {
  json m = tiny_model();
  m["vocab"]["b"] = "one";
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(json{{"model", m}}.dump()); });
  EXPECT_TRUE(has(msg, "token id is not an integer")) << msg;
  EXPECT_TRUE(has(msg, "\"one\"")) << msg;
}

TEST(MalformedTokenizerJson, UnsupportedPreTokenizer) {
  const json t = {{"model", tiny_model()}, {"pre_tokenizer", {{"type", "BertPreTokenizer"}}}};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(t.dump()); });
  EXPECT_TRUE(has(msg, "unsupported pre_tokenizer type")) << msg;
  EXPECT_TRUE(has(msg, "\"BertPreTokenizer\"")) << msg;
}

TEST(MalformedTokenizerJson, RegexThatDoesNotCompile) {
  const json t = {{"model", tiny_model()},
                  {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "(ab"}}}, {"behavior", "Isolated"}}}};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(t.dump()); });
  EXPECT_TRUE(has(msg, "cannot compile regex")) << msg;
  EXPECT_TRUE(has(msg, "\"(ab\"")) << msg;
}

TEST(MalformedTokenizerJson, UnknownSplitBehavior) {
  const json t = {{"model", tiny_model()},
                  {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Sideways"}}}};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(t.dump()); });
  EXPECT_TRUE(has(msg, "unknown split behavior")) << msg;
  EXPECT_TRUE(has(msg, "Sideways")) << msg;
}

TEST(MalformedTokenizerJson, AddedTokenClashesWithVocabulary) {
  const json t = {{"model", tiny_model()}, {"added_tokens", {{{"id", 1}, {"content", "<x>"}, {"special", true}}}}};
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(t.dump()); });
  EXPECT_TRUE(has(msg, "added token id is already a different vocabulary token")) << msg;
  EXPECT_TRUE(has(msg, "id 1")) << msg;
}

TEST(MalformedTokenizerJson, UnkTokenNotInVocabulary) {
  json m = tiny_model();
  m["unk_token"] = "<unk>";
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_hf_json_text(json{{"model", m}}.dump()); });
  EXPECT_TRUE(has(msg, "unk_token is not in the vocabulary")) << msg;
}

TEST(MalformedTokenizerJson, MissingFileIsIoError) {
  const std::string msg = message_of<IoError>([] { Tokenizer::from_hf_json("/nonexistent/tokenizer.json"); });
  EXPECT_TRUE(has(msg, "/nonexistent/tokenizer.json")) << msg;
}

TEST(MalformedTiktoken, BadBase64) {
  test::TempDir dir;
  const std::string model = write_file(dir, "tokenizer.model", "IQ== 0\nIg*= 1\n");
  const std::string config = write_file(dir, "tokenizer_config.json", "{}");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_tiktoken(model, config); });
  EXPECT_TRUE(has(msg, "invalid base64 token")) << msg;
  EXPECT_TRUE(has(msg, "line 2")) << msg;
  EXPECT_TRUE(has(msg, "\"Ig*= 1\"")) << msg;
}

TEST(MalformedTiktoken, BadRank) {
  test::TempDir dir;
  const std::string model = write_file(dir, "tokenizer.model", "IQ== zero\n");
  const std::string config = write_file(dir, "tokenizer_config.json", "{}");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_tiktoken(model, config); });
  EXPECT_TRUE(has(msg, "invalid rank")) << msg;
  EXPECT_TRUE(has(msg, "line 1")) << msg;
}

TEST(MalformedTiktoken, DuplicateRank) {
  test::TempDir dir;
  const std::string model = write_file(dir, "tokenizer.model", "IQ== 0\nIg== 0\n");
  const std::string config = write_file(dir, "tokenizer_config.json", "{}");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_tiktoken(model, config); });
  EXPECT_TRUE(has(msg, "duplicate token id")) << msg;
}

TEST(MalformedTiktoken, BadConfigJson) {
  test::TempDir dir;
  const std::string model = write_file(dir, "tokenizer.model", "IQ== 0\n");
  const std::string config = write_file(dir, "tokenizer_config.json", "{\"bos_token\": ");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_tiktoken(model, config); });
  EXPECT_TRUE(has(msg, "invalid JSON")) << msg;
  EXPECT_TRUE(has(msg, config)) << msg;
}

TEST(MalformedPath, UnknownExtension) {
  test::TempDir dir;
  const std::string path = write_file(dir, "vocab.txt", "x");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_path(path); });
  EXPECT_TRUE(has(msg, "cannot tell the tokenizer format")) << msg;
}

TEST(MalformedPath, DirectoryWithoutTokenizer) {
  test::TempDir dir;
  const std::string msg = message_of<IoError>([&] { Tokenizer::from_path(dir.path().string()); });
  EXPECT_TRUE(has(msg, "no tokenizer.json")) << msg;
}

TEST(MalformedTiktoken, SentencePieceModelIsNotTiktoken) {
  test::TempDir dir;
  const std::string config = write_file(dir, "tokenizer_config.json", "{}");
  const std::string model = test::testdata("mistral-common/tokenizer.model.v1");
  const std::string msg = message_of<FormatError>([&] { Tokenizer::from_tiktoken(model, config); });
  EXPECT_TRUE(has(msg, "not a tiktoken file")) << msg;
  EXPECT_TRUE(has(msg, "SentencePiece")) << msg;
  EXPECT_TRUE(has(msg, "offset 1")) << msg;  // the protobuf starts "\n\x0E"
}
