// GGUF reader/writer: exact layouts, every metadata type, elision, sparse data, real vocab files.
#include "io/gguf.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "io_test_util.h"
#include "mlxcel/errors.h"
#include "support/test_paths.h"

namespace mlxcel {
namespace {

using test::TempDir;
namespace gt = gguf_type;

TEST(Gguf, WriterLayoutIsExact) {
  TempDir dir;
  const float w[6] = {1, 2, 3, 4, 5, 6};
  write_gguf(dir.file("m.gguf"), {{"general.architecture", "llama"}, {"llama.block_count", 2}},
             {{"w", DType::F32, {2, 3}, w}});
  // Header: 4 magic + 4 version + 8 tensor count + 8 kv count = 24
  //  kv "general.architecture" (20 chars): 8 + 20 + 4 type + 8 + 5 ("llama") = 45 -> 69
  //  kv "llama.block_count" (17 chars): 8 + 17 + 4 type + 4 (uint32) = 33 -> 102
  //  tensor "w": 8 + 1 + 4 n_dims + 2 x 8 dims + 4 type + 8 offset = 41 -> 143
  // Data starts at 143 aligned up to 32 = 160; 24 bytes of data padded to 32 -> 192 bytes.
  test::Bytes e = test::gguf_start(1, 2);
  e.str("general.architecture").u32(gt::kString).str("llama");
  e.str("llama.block_count").u32(gt::kUint32).u32(2);
  e.str("w").u32(2).u64(3).u64(2).u32(0 /* GGML_TYPE_F32 */).u64(0);
  ASSERT_EQ(e.b.size(), 143u);
  e.pad_to(32);
  e.b.append(reinterpret_cast<const char*>(w), 24);
  e.pad_to(32);
  ASSERT_EQ(e.b.size(), 192u);
  EXPECT_EQ(test::read_file(dir.file("m.gguf")), e.b);

  GgufFile g = read_gguf(dir.file("m.gguf"));
  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.header_end, 143u);
  EXPECT_EQ(g.data_start, 160u);
  EXPECT_EQ(g.file_size, 192u);
  EXPECT_EQ(g.bytes_read, 143u);  // exactly the header, nothing of the padding or data
  EXPECT_EQ(g.metadata["general.architecture"], "llama");
  EXPECT_EQ(g.metadata["llama.block_count"], 2);
  ASSERT_EQ(g.tensors.size(), 1u);
  EXPECT_EQ(g.tensors[0].shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(g.tensors[0].bytes, 24u);
  EXPECT_EQ(g.tensors[0].offset, 160u);
}

TEST(Gguf, ShapeIsRowMajorAndQuantSizesExact) {
  // Hand-made: one Q4_K tensor with ne = [512, 4] (ne[0] fastest) and one Q8_0 with ne = [64].
  // Q4_K: 2048 elements / 256 per block x 144 bytes = 1152. Q8_0: 64 / 32 x 34 = 68.
  test::Bytes b = test::gguf_start(2, 0);
  b.str("q4k").u32(2).u64(512).u64(4).u32(12 /* Q4_K */).u64(0);
  b.str("q8").u32(1).u64(64).u32(8 /* Q8_0 */).u64(1152);  // 1152 is a multiple of 32
  // header: 24 + (8+3+4+16+4+8 = 43) + (8+2+4+8+4+8 = 34) = 101 -> data at 128
  ASSERT_EQ(b.b.size(), 101u);
  b.pad_to(32).zeros(1152 + 68);
  TempDir dir;
  test::write_file(dir.file("q.gguf"), b.b);
  GgufFile g = read_gguf(dir.file("q.gguf"));
  EXPECT_EQ(g.data_start, 128u);
  ASSERT_EQ(g.tensors.size(), 2u);
  EXPECT_EQ(g.tensors[0].dtype, DType::Q4_K);
  EXPECT_EQ(g.tensors[0].shape, (std::vector<uint64_t>{4, 512}));
  EXPECT_EQ(g.tensors[0].bytes, 1152u);
  EXPECT_EQ(g.tensors[0].offset, 128u);
  EXPECT_EQ(g.tensors[1].dtype, DType::Q8_0);
  EXPECT_EQ(g.tensors[1].bytes, 68u);
  EXPECT_EQ(g.tensors[1].offset, 128u + 1152u);
}

TEST(Gguf, AllMetadataTypesRoundTrip) {
  nlohmann::json md = {
      {"u8", 200},          {"i8", -100},         {"u16", 60000},      {"i16", -30000},
      {"u32", 4000000000u}, {"i32", -2000000000}, {"f32", 0.5},        {"bool", true},
      {"str", "hello"},     {"u64", 1ull << 40},  {"i64", -(1ll << 40)}, {"f64", 0.1},
      {"arr_u8", {1, 2, 3}}, {"arr_f32", {0.25, -1.5}}, {"arr_str", {"a", "bc", ""}},
      {"arr_bool", {true, false}}, {"arr_i64", {-1, 1ll << 40}},
      {"nested", nlohmann::json::array({nlohmann::json::array({"x", "y"}), nlohmann::json::array({"z"})})}, {"empty", nlohmann::json::array()},
  };
  std::map<std::string, uint32_t> types = {
      {"u8", gt::kUint8},   {"i8", gt::kInt8},       {"u16", gt::kUint16}, {"i16", gt::kInt16},
      {"u64", gt::kUint64}, {"i64", gt::kInt64},     {"f64", gt::kFloat64}, {"arr_u8", gt::kUint8},
      {"empty", gt::kInt32},
  };
  TempDir dir;
  write_gguf(dir.file("m.gguf"), md, {}, types);
  GgufFile g = read_gguf(dir.file("m.gguf"));
  // Values are the written ones (0.5, 0.25, -1.5 are exact in float32; 0.1 is float64).
  EXPECT_EQ(g.metadata, md);
  std::map<std::string, uint32_t> expect_types = {
      {"u8", gt::kUint8},      {"i8", gt::kInt8},      {"u16", gt::kUint16},    {"i16", gt::kInt16},
      {"u32", gt::kUint32},    {"i32", gt::kInt32},    {"f32", gt::kFloat32},   {"bool", gt::kBool},
      {"str", gt::kString},    {"u64", gt::kUint64},   {"i64", gt::kInt64},     {"f64", gt::kFloat64},
      {"arr_u8", gt::kUint8},  {"arr_f32", gt::kFloat32}, {"arr_str", gt::kString},
      {"arr_bool", gt::kBool}, {"arr_i64", gt::kInt64}, {"nested", gt::kArray}, {"empty", gt::kInt32},
  };
  EXPECT_EQ(g.metadata_types, expect_types);
  // Rewriting with the types read back gives the same bytes.
  write_gguf(dir.file("again.gguf"), g.metadata, {}, g.metadata_types);
  EXPECT_EQ(test::read_file(dir.file("again.gguf")), test::read_file(dir.file("m.gguf")));
}

TEST(Gguf, WriterRejectsValueThatDoesNotFitItsType) {
  TempDir dir;
  EXPECT_THROW(write_gguf(dir.file("m.gguf"), {{"k", 300}}, {}, {{"k", gt::kUint8}}), FormatError);
  EXPECT_THROW(write_gguf(dir.file("m.gguf"), {{"k", -1}}, {}, {{"k", gt::kUint32}}), FormatError);
  EXPECT_THROW(write_gguf(dir.file("m.gguf"), {{"k", {1, "a"}}}, {}), FormatError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.gguf")));
}

TEST(Gguf, LargeArraysAreElidedButValidated) {
  TempDir dir;
  std::vector<uint32_t> nums(1000, 7);
  std::vector<std::string> strs(1000, "tok");
  write_gguf(dir.file("m.gguf"), {{"nums", nums}, {"strs", strs}, {"small", {1, 2}}}, {});
  GgufReadOptions opt;
  opt.max_array_elems_kept = 10;
  GgufFile g = read_gguf(dir.file("m.gguf"), opt);
  EXPECT_EQ(g.metadata["nums"], (nlohmann::json{{"gguf_array_type", gt::kUint32}, {"length", 1000}, {"elided", true}}));
  EXPECT_EQ(g.metadata["strs"], (nlohmann::json{{"gguf_array_type", gt::kString}, {"length", 1000}, {"elided", true}}));
  EXPECT_EQ(g.metadata["small"], (nlohmann::json{1, 2}));
  GgufFile full = read_gguf(dir.file("m.gguf"));
  EXPECT_EQ(full.metadata["strs"].size(), 1000u);
  // Same header end either way; the elided numeric array (4000 bytes) was skipped, not read
  // (read-ahead may take a few dozen of its bytes, never the whole).
  EXPECT_EQ(g.header_end, full.header_end);
  EXPECT_EQ(full.bytes_read, full.header_end);
  EXPECT_LT(g.bytes_read + 3900, full.bytes_read);
}

TEST(Gguf, InvalidUtf8StringIsKeptAsBytes) {
  TempDir dir;
  test::Bytes b = test::gguf_start(0, 1);
  b.str("tok").u32(gt::kString).str(std::string("\xe7\xbb", 2));  // a cut 3-byte sequence
  test::write_file(dir.file("m.gguf"), b.b);
  GgufFile g = read_gguf(dir.file("m.gguf"));
  EXPECT_EQ(g.metadata["tok"].get<std::string>(), std::string("\xe7\xbb", 2));
  EXPECT_NO_THROW((void)g.metadata.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

TEST(Gguf, Version2IsRead) {
  TempDir dir;
  write_gguf(dir.file("m.gguf"), {{"general.architecture", "llama"}}, {{"w", DType::F16, {4}, nullptr}}, {}, 2);
  GgufFile g = read_gguf(dir.file("m.gguf"));
  EXPECT_EQ(g.version, 2u);
  EXPECT_EQ(g.tensors[0].bytes, 8u);
}

TEST(Gguf, CustomAlignment) {
  TempDir dir;
  // Two F32 [3] tensors (12 bytes each) with alignment 64: offsets 0 and 64.
  write_gguf(dir.file("m.gguf"), {{"general.alignment", 64}},
             {{"a", DType::F32, {3}, nullptr}, {"b", DType::F32, {3}, nullptr}});
  GgufFile g = read_gguf(dir.file("m.gguf"));
  EXPECT_EQ(g.alignment, 64u);
  EXPECT_EQ(g.metadata_types["general.alignment"], gt::kUint32);
  // Header: 24 + kv (8 + 17 + 4 + 4 = 33) + 2 x tensor (8 + 1 + 4 + 8 + 4 + 8 = 33) = 123 -> 128.
  EXPECT_EQ(g.header_end, 123u);
  EXPECT_EQ(g.data_start, 128u);
  EXPECT_EQ(g.tensors[1].offset, 128u + 64u);
  EXPECT_EQ(g.file_size, 128u + 128u);
}

TEST(Gguf, HoleWriterMakesSparseFile) {
  TempDir dir;
  // Q8_0 [16384, 32768]: 2^29 elements / 32 x 34 bytes = 570,425,344 bytes.
  write_gguf(dir.file("big.gguf"), {}, {{"w", DType::Q8_0, {16384, 32768}, nullptr}});
  GgufFile g = read_gguf(dir.file("big.gguf"));
  EXPECT_EQ(g.tensors[0].bytes, 570425344u);
  EXPECT_EQ(g.file_size, g.data_start + 570425344u);
  EXPECT_LT(test::disk_usage(dir.file("big.gguf")), 1u << 20);
}

// Expected values from an independent Python parser (struct.unpack over the whole file).
TEST(Gguf, ReadsLlamaSpmVocab) {
  GgufFile g = read_gguf(test::testdata("llama.cpp-ggml-vocab/ggml-vocab-llama-spm.gguf"));
  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.metadata.size(), 22u);
  EXPECT_TRUE(g.tensors.empty());
  EXPECT_EQ(g.header_end, 723869u);  // the whole file: vocab-only, no tensor data
  EXPECT_EQ(g.bytes_read, 723869u);
  EXPECT_EQ(g.metadata["general.architecture"], "llama");
  EXPECT_EQ(g.metadata["llama.block_count"], 32);
  EXPECT_EQ(g.metadata["tokenizer.ggml.model"], "llama");
  const auto& tokens = g.metadata["tokenizer.ggml.tokens"];
  ASSERT_EQ(tokens.size(), 32000u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[31999], "\xe7\xbb\x99");
  EXPECT_EQ(g.metadata["tokenizer.ggml.scores"][31999], -31740.0);
  EXPECT_EQ(g.metadata["tokenizer.ggml.token_type"][0], 2);
  EXPECT_EQ(g.metadata["tokenizer.ggml.bos_token_id"], 1);
  EXPECT_EQ(g.metadata["tokenizer.ggml.add_bos_token"], true);
  EXPECT_EQ(g.metadata_types["tokenizer.ggml.tokens"], gt::kString);
  EXPECT_EQ(g.metadata_types["tokenizer.ggml.scores"], gt::kFloat32);
  EXPECT_EQ(g.metadata_types["tokenizer.ggml.token_type"], gt::kInt32);
}

TEST(Gguf, ReadsEveryVocabFile) {
  struct Expect {
    const char* file;
    uint64_t kvs, size, tokens;
    const char* arch;
  };
  // kv count, file size (= header end), token count, architecture: independent Python parser.
  const Expect cases[] = {
      {"baichuan", 18, 1340998, 64000, "baichuan"},   {"bert-bge", 20, 627549, 30522, "bert"},
      {"deepseek-coder", 25, 1156067, 32256, "llama"}, {"deepseek-llm", 23, 3970167, 102400, "llama"},
      {"falcon", 18, 2287728, 65024, "falcon"},       {"gpt-2", 16, 1766807, 50257, "gpt2"},
      {"gpt-neox", 17, 1771431, 50432, "gptneox"},    {"llama-spm", 22, 723869, 32000, "llama"},
      {"mpt", 17, 1771393, 50432, "mpt"},             {"phi-3", 26, 726019, 32064, "phi3"},
      {"refact", 18, 1720710, 49216, "refact"},       {"starcoder", 19, 1719346, 49152, "starcoder2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    GgufFile g = read_gguf(test::testdata(std::string("llama.cpp-ggml-vocab/ggml-vocab-") + c.file + ".gguf"));
    EXPECT_EQ(g.metadata.size(), c.kvs);
    EXPECT_EQ(g.file_size, c.size);
    EXPECT_EQ(g.header_end, c.size);
    EXPECT_EQ(g.metadata["tokenizer.ggml.tokens"].size(), c.tokens);
    EXPECT_EQ(g.metadata["general.architecture"], c.arch);
  }
  // gpt-2 merges: 50000 entries, the first "\xc4\xa0 t" (Python parser).
  GgufFile gpt2 = read_gguf(test::testdata("llama.cpp-ggml-vocab/ggml-vocab-gpt-2.gguf"));
  ASSERT_EQ(gpt2.metadata["tokenizer.ggml.merges"].size(), 50000u);
  EXPECT_EQ(gpt2.metadata["tokenizer.ggml.merges"][0], "\xc4\xa0 t");
}

}  // namespace
}  // namespace mlxcel
