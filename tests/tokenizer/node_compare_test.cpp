// Compares encode/decode with @huggingface/tokenizers (tokenizers.js, installed by test.sh with
// `npm ci --prefix tests/node`) on the tokenizer.json files of the test data and on the tokenizer
// exported from llama2.c. Skipped only when node or the npm package is missing.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

using namespace mlxcel;
using nlohmann::json;

namespace {

const std::string kNodeDir = std::string(MLXCEL_SOURCE_DIR) + "/tests/node";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Why the comparison cannot run, or "" when it can.
std::string missing_reference() {
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  if (!std::filesystem::exists(kNodeDir + "/node_modules/@huggingface/tokenizers/package.json")) {
    return "@huggingface/tokenizers is not installed (run: npm ci --prefix tests/node)";
  }
  return "";
}

std::vector<std::string> test_strings() {
  std::vector<std::string> s = {
      "Hello world",
      " Hello world",
      "Hello  world",
      "   leading spaces",
      "trailing spaces   ",
      "\n\nparagraphs\n\n\nhere\n",
      "tab\tseparated\tvalues\t",
      "I'm sure we'll see; they've said you'd know she's here. DON'T SHOUT",
      "numbers 1 12 123 1234 12345 3.14159 1,000,000 0x1F",
      "emoji 🦙🔥👍🏽 and a family 👨‍👩‍👧",
      "日本語のテキストと中文文本测试",
      "한국어 텍스트, Ελληνικά, русский текст, עברית, العربية, हिन्दी",
      "def f(x):\n    return x**2  # comment\n",
      "<html><body class=\"a\">tags &amp; entities</body></html>",
      "{\"json\": [1, 2, 3], \"nested\": {\"k\": null}}",
      "$100 @user #tag 50% ^_^ ~tilde~ |pipe| `tick` a=b&c=d?e",
      "...!!!??" "?--- ''''\"\"\"",  // split: "??-" would read as a trigraph
      "special <s> and </s> and <unk> inside",
      "<|endoftext|>between<|endoftext|>",
      "<|user|>\nHi there<|end|>\n<|assistant|>",
      ">>TITLE<< falcon >>ABSTRACT<<",
      "<|start_of_role|>user<|end_of_role|>Hello<|end_of_text|>",
      "non-breaking\u00a0space thin\u2009space ideographic\u3000space",
      "mixed\r\nline\rendings\n",
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
  };
  // llama.cpp's tokenizer test texts as well.
  const std::string inp = slurp(test::testdata("llama.cpp-ggml-vocab/ggml-vocab-gpt-2.gguf.inp"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0, next; (next = inp.find(sep, pos)) != std::string::npos; pos = next + sep.size()) {
    s.push_back(inp.substr(pos, next - pos));
  }
  return s;
}

json run_node(const std::string& tokenizer_dir, const std::vector<std::string>& strings) {
  test::TempDir tmp;
  const std::string strings_file = tmp.file("strings.json");
  std::ofstream(strings_file) << json(strings).dump();
  const std::string cmd = "node '" + kNodeDir + "/encode.mjs' '" + tokenizer_dir + "' '" + strings_file + "' 2>'" +
                          tmp.file("stderr.txt") + "'";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  std::string out;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int rc = pclose(p);
  if (rc != 0) throw std::runtime_error("node failed (" + cmd + "): " + slurp(tmp.file("stderr.txt")));
  return json::parse(out);
}

void compare(const std::string& tokenizer_dir) {
  const Tokenizer tok = Tokenizer::from_path(tokenizer_dir);
  const auto strings = test_strings();
  const json ref = run_node(tokenizer_dir, strings);
  ASSERT_EQ(ref.size(), strings.size());
  EncodeOptions plain;
  plain.add_special = false;
  for (size_t i = 0; i < strings.size(); ++i) {
    const auto expected = ref[i]["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.encode(strings[i], plain), expected) << tokenizer_dir << " string " << i << ": \"" << strings[i] << "\"";
    EXPECT_EQ(tok.encode(strings[i]), ref[i]["ids_with_special"].get<std::vector<int32_t>>())
        << tokenizer_dir << " string " << i << " with special tokens";
    EXPECT_EQ(tok.decode(expected), ref[i]["decoded"].get<std::string>()) << tokenizer_dir << " decode " << i;
  }
}

}  // namespace

class NodeCompare : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = missing_reference();
    if (!why.empty()) GTEST_SKIP() << "comparison with @huggingface/tokenizers skipped: " << why;
  }
};

TEST_F(NodeCompare, Gpt2) { compare(test::testdata("gpt2-tokenizer")); }
TEST_F(NodeCompare, Llama2) { compare(test::testdata("llama-2-tokenizer")); }
TEST_F(NodeCompare, Phi3Mini) { compare(test::testdata("phi-3-mini-tokenizer")); }
TEST_F(NodeCompare, Phi2) { compare(test::testdata("phi-2-tokenizer")); }
TEST_F(NodeCompare, Falcon) { compare(test::testdata("falcon-tokenizer")); }
TEST_F(NodeCompare, Granite) { compare(test::testdata("granite-3.1-1b-a400m-instruct-tokenizer")); }
TEST_F(NodeCompare, ExportedLlama2c) {
  test::TempDir dir;
  export_llama2c_tokenizer(test::testdata("stories260K-llama2c/tok512.bin"), dir.path().string());
  compare(dir.path().string());
}
