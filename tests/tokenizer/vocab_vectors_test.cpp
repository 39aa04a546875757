// llama.cpp's tokenizer test vectors (../shared/testdata/llama.cpp-ggml-vocab): each .inp holds
// texts separated by a line "__ggml_vocab_test__", each .out the expected ids (no BOS) one line
// per text. The ids come from Hugging Face tokenizers (llama.cpp's convert-hf-to-gguf-update.py),
// an independent reference.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

using namespace mlxcel;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Vector {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Vector> load_vectors(const std::string& name) {
  const std::string base = test::testdata("llama.cpp-ggml-vocab/ggml-vocab-" + name + ".gguf");
  const std::string inp = slurp(base + ".inp"), out = slurp(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0;;) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) break;
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<Vector> v;
  std::istringstream lines(out);
  std::string line;
  for (const auto& t : texts) {
    std::getline(lines, line);
    Vector x{t, {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) x.ids.push_back(id);
    v.push_back(std::move(x));
  }
  return v;
}

void check_vectors(const Tokenizer& tok, const std::string& name, bool lossless) {
  const auto vectors = load_vectors(name);
  ASSERT_EQ(vectors.size(), 46u) << name;
  if (lossless) {
    EXPECT_TRUE(tok.is_lossless()) << name;
  }
  EncodeOptions opt;
  opt.add_special = false;
  opt.parse_special = false;
  for (size_t i = 0; i < vectors.size(); ++i) {
    EXPECT_EQ(tok.encode(vectors[i].text, opt), vectors[i].ids) << name << " vector " << i << ": \"" << vectors[i].text << "\"";
    if (lossless) {
      EXPECT_EQ(tok.decode(vectors[i].ids), vectors[i].text) << name << " vector " << i;
    }
  }
}

std::string vocab(const std::string& name) { return test::testdata("llama.cpp-ggml-vocab/ggml-vocab-" + name + ".gguf"); }

}  // namespace

TEST(VocabVectors, Gpt2Gguf) { check_vectors(Tokenizer::from_gguf(vocab("gpt-2")), "gpt-2", true); }
TEST(VocabVectors, Gpt2TokenizerJson) { check_vectors(Tokenizer::from_path(test::testdata("gpt2-tokenizer")), "gpt-2", true); }
TEST(VocabVectors, LlamaSpmGguf) { check_vectors(Tokenizer::from_gguf(vocab("llama-spm")), "llama-spm", true); }
TEST(VocabVectors, LlamaSpmTokenizerJson) { check_vectors(Tokenizer::from_path(test::testdata("llama-2-tokenizer")), "llama-spm", true); }
TEST(VocabVectors, LlamaBpeTiktoken) { check_vectors(Tokenizer::from_path(test::testdata("llama-3-8b-instruct-tokenizer")), "llama-bpe", true); }
TEST(VocabVectors, Phi3Gguf) { check_vectors(Tokenizer::from_gguf(vocab("phi-3")), "phi-3", true); }
TEST(VocabVectors, Phi3TokenizerJson) { check_vectors(Tokenizer::from_path(test::testdata("phi-3-mini-tokenizer")), "phi-3", true); }
TEST(VocabVectors, FalconGguf) { check_vectors(Tokenizer::from_gguf(vocab("falcon")), "falcon", true); }
TEST(VocabVectors, FalconTokenizerJson) { check_vectors(Tokenizer::from_path(test::testdata("falcon-tokenizer")), "falcon", true); }
TEST(VocabVectors, StarcoderGguf) { check_vectors(Tokenizer::from_gguf(vocab("starcoder")), "starcoder", true); }
TEST(VocabVectors, RefactGguf) { check_vectors(Tokenizer::from_gguf(vocab("refact")), "refact", true); }
TEST(VocabVectors, MptGguf) { check_vectors(Tokenizer::from_gguf(vocab("mpt")), "mpt", true); }
TEST(VocabVectors, DeepseekLlmGguf) { check_vectors(Tokenizer::from_gguf(vocab("deepseek-llm")), "deepseek-llm", true); }
TEST(VocabVectors, DeepseekCoderGguf) { check_vectors(Tokenizer::from_gguf(vocab("deepseek-coder")), "deepseek-coder", true); }
