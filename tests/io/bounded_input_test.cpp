// Parsers bounded by design: nesting, number overflow, ranks and array lengths that a stranger's
// file could use to crash or exhaust the process are refused with a FormatError naming the file,
// the field and the value. Each case is its own test.
#include <unistd.h>

#include <gtest/gtest.h>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "io_test_util.h"
#include "mlxcel/errors.h"
#include "support/test_paths.h"

namespace mlxcel {
namespace {

using test::Bytes;
using test::TempDir;
namespace gt = gguf_type;

// `depth` nested arrays around 0: [[[...0...]]].
std::string nested(size_t depth) { return std::string(depth, '[') + "0" + std::string(depth, ']'); }

SafetensorsHeader read_st(const TempDir& dir, const std::string& header, uint64_t data_len) {
  test::write_file(dir.file("bad.safetensors"), test::safetensors_bytes(header, data_len));
  return read_safetensors_header(dir.file("bad.safetensors"));
}

// 100,000 levels used to overflow the stack inside the JSON library (exit 139, nothing said).
TEST(SafetensorsBounded, HeaderNested100000DeepIsFormatError) {
  TempDir dir;
  const std::string header = R"({"__metadata__": {"x": )" + nested(100000) + "}}";
  EXPECT_THROW_MSG(read_st(dir, header, 0), FormatError, "nested deeper than 128 levels");
}

TEST(SafetensorsBounded, HeaderNestedDeepNamesTheFile) {
  TempDir dir;
  const std::string header = R"({"w": )" + nested(100000) + "}";
  EXPECT_THROW_MSG(read_st(dir, header, 0), FormatError,
                   "header is not valid JSON (" + dir.file("bad.safetensors") + ", w");
}

TEST(SafetensorsBounded, HeaderNumberOverflowNamesFieldAndValue) {
  TempDir dir;
  const std::string header = R"({"w": {"dtype": "F32", "shape": [2, 1e400], "data_offsets": [0, 8]}})";
  EXPECT_THROW_MSG(read_st(dir, header, 8), FormatError, "w.shape[1], number overflow parsing '1e400'");
}

TEST(SafetensorsBounded, ShapeRankOverLimit) {
  TempDir dir;
  std::string shape = "[1";
  for (int i = 1; i < 33; ++i) shape += ", 1";
  shape += "]";
  const std::string header = R"({"w": {"dtype": "F32", "shape": )" + shape + R"(, "data_offsets": [0, 4]}})";
  EXPECT_THROW_MSG(read_st(dir, header, 4), FormatError,
                   "shape has 33 dimensions, more than the limit of 32");
}

TEST(SafetensorsBounded, ShapeRankAtLimitIsAccepted) {
  TempDir dir;
  std::string shape = "[1";
  for (int i = 1; i < 32; ++i) shape += ", 1";
  shape += "]";
  const std::string header = R"({"w": {"dtype": "F32", "shape": )" + shape + R"(, "data_offsets": [0, 4]}})";
  SafetensorsHeader h = read_st(dir, header, 4);
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors[0].shape.size(), 32u);
}

TEST(SafetensorsBounded, IndexNested100000DeepIsFormatError) {
  TempDir dir;
  test::write_file(dir.file("i.json"), R"({"weight_map": {"w": )" + nested(100000) + "}}");
  EXPECT_THROW_MSG(read_safetensors_index(dir.file("i.json")), FormatError,
                   "index is not valid JSON (" + dir.file("i.json") + ", weight_map.w");
}

TEST(SafetensorsBounded, IndexNumberOverflowNamesFieldAndValue) {
  TempDir dir;
  test::write_file(dir.file("i.json"), R"({"metadata": {"total_size": 1e400}, "weight_map": {}})");
  EXPECT_THROW_MSG(read_safetensors_index(dir.file("i.json")), FormatError,
                   "metadata.total_size, number overflow parsing '1e400'");
}

// A kept GGUF array costs 16+ bytes of JSON per element for as little as one byte of file: the
// total kept is capped at 2^23 = 8,388,608 elements.
TEST(GgufBounded, KeptArrayElementsOverBudget) {
  TempDir dir;
  const uint64_t n = (1ull << 23) + 1;
  Bytes b = test::gguf_start(0, 1);
  b.str("tokenizer.ggml.token_type").u32(gt::kArray).u32(gt::kUint8).u64(n).zeros(n);
  test::write_file(dir.file("big.gguf"), b.b);
  EXPECT_THROW_MSG(read_gguf(dir.file("big.gguf")), FormatError,
                   "arrays hold more than 8388608 elements in total (" + dir.file("big.gguf") +
                       ", key \"tokenizer.ggml.token_type\", array length, 8388609)");
}

TEST(GgufBounded, LongArraysAreOnlyCountedWhenNotKept) {
  TempDir dir;
  const uint64_t n = (1ull << 23) + 1;
  Bytes b = test::gguf_start(0, 1);
  b.str("tokenizer.ggml.token_type").u32(gt::kArray).u32(gt::kUint8).u64(n).zeros(n);
  test::write_file(dir.file("big.gguf"), b.b);
  GgufReadOptions opt;
  opt.max_array_elems_kept = 64;
  GgufFile g = read_gguf(dir.file("big.gguf"), opt);
  EXPECT_EQ(g.metadata["tokenizer.ggml.token_type"]["length"], n);
}

// The array's bytes exist (a sparse file of 600 MiB), but they lie past the 512 MiB header
// limit: refused before anything is reserved or read.
TEST(GgufBounded, ArrayPastTheHeaderLimit) {
  TempDir dir;
  const uint64_t n = 600ull << 20;
  Bytes b = test::gguf_start(0, 1);
  b.str("k").u32(gt::kArray).u32(gt::kUint8).u64(n);
  const std::string path = dir.file("sparse.gguf");
  test::write_file(path, b.b);
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(b.b.size() + n)), 0);
  EXPECT_THROW_MSG(read_gguf(path), FormatError,
                   "array length 629145600 of uint8 runs past the 536870912-byte header limit");
}

}  // namespace
}  // namespace mlxcel
