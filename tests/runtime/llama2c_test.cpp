#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "mlxcel/errors.h"
#include "runtime/llama2c.h"
#include "support/test_paths.h"

namespace mlxcel::runtime {
namespace {

std::string stories_bin() { return test::testdata("stories260K-llama2c/stories260K.bin"); }

std::vector<char> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_all(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void set_header(std::vector<char>& bytes, int field, int32_t v) { std::memcpy(bytes.data() + 4 * field, &v, 4); }

template <class E>
void expect_error(const std::string& path, const std::string& fragment) {
  try {
    read_llama2c_checkpoint(path);
    FAIL() << "no exception";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Llama2c, ReadsStories260K) {
  Llama2cCheckpoint ck = read_llama2c_checkpoint(stories_bin());
  // Header from the model card: dim 64, 5 layers, 8 heads, 4 kv heads, vocab 512, seq 512;
  // hidden_dim 172 (multiple_of=4: 2/3 * 4 * 64 = 170.67 -> 172).
  EXPECT_EQ(ck.config.dim, 64u);
  EXPECT_EQ(ck.config.hidden_dim, 172u);
  EXPECT_EQ(ck.config.n_layers, 5u);
  EXPECT_EQ(ck.config.n_heads, 8u);
  EXPECT_EQ(ck.config.n_kv_heads, 4u);
  EXPECT_EQ(ck.config.vocab_size, 512u);
  EXPECT_TRUE(ck.config.shared_classifier);
  EXPECT_EQ(ck.config.seq_len, 512u);
  EXPECT_EQ(ck.token_embedding.size(), 512u * 64u);
  EXPECT_EQ(ck.wk.size(), 5u * 32u * 64u);  // kv_dim = 4 heads * 8
  EXPECT_EQ(ck.w2.size(), 5u * 64u * 172u);
  EXPECT_TRUE(ck.wcls.empty());
}

TEST(Llama2c, HfTensorsPermuteQkRowsToRotateHalf) {
  Llama2cCheckpoint ck = read_llama2c_checkpoint(stories_bin());
  std::vector<HfTensor> t = llama2c_hf_tensors(ck);
  // embed + 9 per layer + final norm, no lm_head (shared classifier).
  ASSERT_EQ(t.size(), 1u + 5u * 9u + 1u);
  const HfTensor* q = nullptr;
  for (const auto& x : t) {
    if (x.name == "model.layers.1.self_attn.q_proj.weight") q = &x;
  }
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(q->shape, (std::vector<uint64_t>{64, 64}));
  // head size 8, half 4: HF row (head 2, j=1) = llama2.c row 2*8+2, HF row (head 2, 4+1) = 2*8+3.
  const float* l1 = ck.wq.data() + 64 * 64;
  EXPECT_EQ(q->data[(16 + 1) * 64 + 5], l1[(16 + 2) * 64 + 5]);
  EXPECT_EQ(q->data[(16 + 5) * 64 + 5], l1[(16 + 3) * 64 + 5]);
  nlohmann::json cfg = llama2c_hf_config(ck.config);
  EXPECT_EQ(cfg["tie_word_embeddings"], true);
  EXPECT_EQ(cfg["head_dim"], 8);
}

class Llama2cMalformed : public ::testing::Test {
 protected:
  test::TempDir dir;
  std::vector<char> bytes = read_all(stories_bin());
  std::string path = dir.file("bad.bin");
};

TEST_F(Llama2cMalformed, Truncated) {
  bytes.resize(bytes.size() / 2);
  write_all(path, bytes);
  expect_error<FormatError>(path, "file too short");
}

TEST_F(Llama2cMalformed, HeaderShorterThan28Bytes) {
  bytes.resize(20);
  write_all(path, bytes);
  expect_error<FormatError>(path, "28-byte header");
}

TEST_F(Llama2cMalformed, NegativeDim) {
  set_header(bytes, 0, -64);
  write_all(path, bytes);
  expect_error<FormatError>(path, "dim, -64");
}

TEST_F(Llama2cMalformed, ZeroLayers) {
  set_header(bytes, 2, 0);
  write_all(path, bytes);
  expect_error<FormatError>(path, "n_layers, 0");
}

TEST_F(Llama2cMalformed, TrailingBytes) {
  bytes.insert(bytes.end(), 16, '\0');
  write_all(path, bytes);
  // 28 + 4 * 264128 floats = 1056540 bytes expected, file has 16 more.
  expect_error<FormatError>(path, "expected 1056540 bytes, file has 1056556");
}

TEST_F(Llama2cMalformed, UnsharedClassifierMissing) {
  set_header(bytes, 5, -512);  // declares a separate wcls the file does not hold
  write_all(path, bytes);
  expect_error<FormatError>(path, "wcls");
}

TEST_F(Llama2cMalformed, HeadsNotDividingDim) {
  set_header(bytes, 3, 7);
  write_all(path, bytes);
  expect_error<FormatError>(path, "n_heads, 7");
}

TEST_F(Llama2cMalformed, KvHeadsNotDividingHeads) {
  set_header(bytes, 4, 3);
  write_all(path, bytes);
  expect_error<FormatError>(path, "n_kv_heads, 3");
}

TEST_F(Llama2cMalformed, OddHeadSize) {
  set_header(bytes, 0, 72);  // 72 / 8 heads = 9
  write_all(path, bytes);
  expect_error<FormatError>(path, "head_size, 9");
}

TEST_F(Llama2cMalformed, HugeDimsOverflow) {
  // dim 2^30, hidden 2^31-1, 16 heads: 5 layers * hidden * dim floats > 2^64.
  set_header(bytes, 0, 0x40000000);
  set_header(bytes, 1, 0x7fffffff);
  set_header(bytes, 3, 0x10);
  set_header(bytes, 4, 0x10);
  write_all(path, bytes);
  expect_error<FormatError>(path, "size overflows");
}

TEST(Llama2c, MissingFileIsIoError) {
  EXPECT_THROW(read_llama2c_checkpoint("/nonexistent/x.bin"), IoError);
}

}  // namespace
}  // namespace mlxcel::runtime
