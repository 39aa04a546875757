// Malformed safetensors files and indexes: each case names the error type and message.
#include <gtest/gtest.h>

#include "io/locator.h"
#include "io/safetensors.h"
#include "io_test_util.h"
#include "mlxcel/errors.h"
#include "support/test_paths.h"

namespace mlxcel {
namespace {

using test::TempDir;

// Writes a safetensors file from a header and data length and reads it back.
SafetensorsHeader read_st(const TempDir& dir, const std::string& header, uint64_t data_len) {
  test::write_file(dir.file("bad.safetensors"), test::safetensors_bytes(header, data_len));
  return read_safetensors_header(dir.file("bad.safetensors"));
}

TEST(SafetensorsMalformed, TruncatedFile) {
  TempDir dir;
  test::write_file(dir.file("bad.safetensors"), std::string("\x05\x00\x00", 3));
  EXPECT_THROW_MSG(read_safetensors_header(dir.file("bad.safetensors")), FormatError,
                   "file too small for a safetensors header: 3 bytes");
}

TEST(SafetensorsMalformed, MissingFile) {
  TempDir dir;
  EXPECT_THROW_MSG(read_safetensors_header(dir.file("none.safetensors")), IoError, "cannot open file");
}

TEST(SafetensorsMalformed, HeaderLengthBeyondFile) {
  TempDir dir;
  test::Bytes b;
  b.u64(1000).raw("{}");  // 10-byte file claims a 1000-byte header
  test::write_file(dir.file("bad.safetensors"), b.b);
  EXPECT_THROW_MSG(read_safetensors_header(dir.file("bad.safetensors")), FormatError,
                   "header length 1000 beyond the end of the file of 10 bytes");
}

TEST(SafetensorsMalformed, HeaderLengthAbsurd) {
  TempDir dir;
  test::Bytes b;
  b.u64(0xffffffffffffff00ull).raw("{}");
  test::write_file(dir.file("bad.safetensors"), b.b);
  EXPECT_THROW_MSG(read_safetensors_header(dir.file("bad.safetensors")), FormatError,
                   "header length 18446744073709551360 exceeds the 100000000-byte limit");
}

TEST(SafetensorsMalformed, InvalidJson) {
  TempDir dir;
  EXPECT_THROW_MSG(read_st(dir, R"({"a": {"dtype": "F32",)", 0), FormatError, "header is not valid JSON");
}

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  TempDir dir;
  EXPECT_THROW_MSG(read_st(dir, "[1, 2]", 0), FormatError, "header does not start with '{'");
}

TEST(SafetensorsMalformed, InvalidUtf8InHeader) {
  TempDir dir;
  // 0xff can never appear in UTF-8; it sits in a tensor name at header byte 2.
  EXPECT_THROW_MSG(read_st(dir, "{\"\xff\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]}}", 4),
                   FormatError, "header is not valid UTF-8");
}

TEST(SafetensorsMalformed, UnknownDtype) {
  TempDir dir;
  EXPECT_THROW_MSG(read_st(dir, R"({"w": {"dtype": "F7", "shape": [1], "data_offsets": [0, 1]}})", 1),
                   FormatError, R"(unknown dtype (/)");
  EXPECT_THROW_MSG(read_st(dir, R"({"w": {"dtype": "F7", "shape": [1], "data_offsets": [0, 1]}})", 1),
                   FormatError, R"(tensor "w", dtype, "F7")");
}

TEST(SafetensorsMalformed, NegativeShape) {
  TempDir dir;
  EXPECT_THROW_MSG(read_st(dir, R"({"w": {"dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 0]}})", 0),
                   FormatError, "shape dimension is not a non-negative integer");
}

TEST(SafetensorsMalformed, NonIntegerShape) {
  TempDir dir;
  EXPECT_THROW_MSG(read_st(dir, R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 10]}})", 10),
                   FormatError, "shape, 2.5)");
}

TEST(SafetensorsMalformed, ShapeOverflow) {
  TempDir dir;
  // 2^40 x 2^40 = 2^80 elements: does not fit 64 bits.
  EXPECT_THROW_MSG(
      read_st(dir, R"({"w": {"dtype": "U8", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 1]}})", 1),
      FormatError, "shape element count overflows");
}

TEST(SafetensorsMalformed, ShapeByteSizeOverflow) {
  TempDir dir;
  // 2^62 elements fit, but x 8 bytes (F64) = 2^65 does not.
  EXPECT_THROW_MSG(
      read_st(dir, R"({"w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 8]}})", 8),
      FormatError, "shape byte size overflows");
}

TEST(SafetensorsMalformed, OffsetsOutOfRange) {
  TempDir dir;
  // 4 data bytes in the file, the tensor claims [0, 8).
  EXPECT_THROW_MSG(read_st(dir, R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4),
                   FormatError, "data_offsets out of range: end 8 past the data section of 4 bytes");
}

TEST(SafetensorsMalformed, OffsetsBeginAfterEnd) {
  TempDir dir;
  EXPECT_THROW_MSG(read_st(dir, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8),
                   FormatError, "data_offsets begin after end");
}

TEST(SafetensorsMalformed, OffsetsMissing) {
  TempDir dir;
  EXPECT_THROW_MSG(read_st(dir, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4),
                   FormatError, "data_offsets must be [begin, end]");
}

TEST(SafetensorsMalformed, OverlappingOffsets) {
  TempDir dir;
  EXPECT_THROW_MSG(read_st(dir,
                           R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                           R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                           12),
                   FormatError, R"(tensors overlap: "a" [0, 8) and "b" [4, 12))");
}

TEST(SafetensorsMalformed, SpanIsNotShapeTimesDtype) {
  TempDir dir;
  // [2, 3] F32 = 24 bytes, the span is 20.
  EXPECT_THROW_MSG(read_st(dir, R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", 24),
                   FormatError, "span of 20 bytes is not shape x dtype = 24 bytes");
}

TEST(SafetensorsMalformed, MetadataValueNotString) {
  TempDir dir;
  EXPECT_THROW_MSG(read_st(dir, R"({"__metadata__": {"format": 3}})", 0), FormatError,
                   "__metadata__ value is not a string");
}

TEST(SafetensorsMalformed, IndexInvalidJson) {
  TempDir dir;
  test::write_file(dir.file("model.safetensors.index.json"), R"({"weight_map": )");
  EXPECT_THROW_MSG(read_safetensors_index(dir.file("model.safetensors.index.json")), FormatError,
                   "index is not valid JSON (" + dir.file("model.safetensors.index.json"));
}

TEST(SafetensorsMalformed, IndexWithoutWeightMap) {
  TempDir dir;
  test::write_file(dir.file("i.json"), R"({"metadata": {}})");
  EXPECT_THROW_MSG(read_safetensors_index(dir.file("i.json")), FormatError, "missing or non-object weight_map");
}

TEST(SafetensorsMalformed, IndexParentPath) {
  TempDir dir;
  test::write_file(dir.file("i.json"), R"({"weight_map": {"w": "../x"}})");
  EXPECT_THROW_MSG(read_safetensors_index(dir.file("i.json")), FormatError, "unsafe path");
  EXPECT_THROW_MSG(read_safetensors_index(dir.file("i.json")), FormatError, dir.file("i.json"));
}

TEST(SafetensorsMalformed, IndexAbsolutePath) {
  TempDir dir;
  test::write_file(dir.file("i.json"), R"({"weight_map": {"w": "/abs/x"}})");
  EXPECT_THROW_MSG(read_safetensors_index(dir.file("i.json")), FormatError, R"(unsafe path)");
  EXPECT_THROW_MSG(read_safetensors_index(dir.file("i.json")), FormatError, R"("/abs/x")");
}

TEST(SafetensorsMalformed, IndexDotDot) {
  TempDir dir;
  test::write_file(dir.file("i.json"), R"({"weight_map": {"w": ".."}})");
  EXPECT_THROW_MSG(read_safetensors_index(dir.file("i.json")), FormatError, "unsafe path");
}

TEST(SafetensorsMalformed, IndexNegativeTotalSize) {
  TempDir dir;
  test::write_file(dir.file("i.json"), R"({"metadata": {"total_size": -5}, "weight_map": {}})");
  EXPECT_THROW_MSG(read_safetensors_index(dir.file("i.json")), FormatError,
                   "metadata.total_size is not a non-negative integer");
}

TEST(SafetensorsMalformed, IndexNamingMissingShard) {
  TempDir dir;
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), {{"a", DType::F32, {1}, nullptr}});
  write_safetensors_index(dir.file("model.safetensors.index.json"), 8,
                          {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}});
  EXPECT_THROW_MSG(locate_model(dir.path().string()), IoError,
                   R"(index names a missing shard "model-00002-of-00002.safetensors")");
}

}  // namespace
}  // namespace mlxcel
