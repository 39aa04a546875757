// Malformed GGUF files, built byte by byte: each case names the error type and message.
#include <gtest/gtest.h>

#include "io/gguf.h"
#include "io_test_util.h"
#include "mlxcel/errors.h"
#include "support/test_paths.h"

namespace mlxcel {
namespace {

using test::Bytes;
using test::TempDir;
namespace gt = gguf_type;

GgufFile read_bytes(const TempDir& dir, const Bytes& b) {
  test::write_file(dir.file("bad.gguf"), b.b);
  return read_gguf(dir.file("bad.gguf"));
}

// A valid file with one tensor info; `type`, `offset`, `ne` and the data size are parameters.
Bytes one_tensor(uint32_t type, uint64_t offset, std::vector<uint64_t> ne, uint64_t data_len) {
  Bytes b = test::gguf_start(1, 0);
  b.str("t").u32(static_cast<uint32_t>(ne.size()));
  for (uint64_t d : ne) b.u64(d);
  b.u32(type).u64(offset);
  b.pad_to(32).zeros(data_len);
  return b;
}

TEST(GgufMalformed, BadMagic) {
  TempDir dir;
  Bytes b;
  b.raw("GGML").u32(3).u64(0).u64(0);
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, R"(bad magic "GGML", expected "GGUF")");
}

TEST(GgufMalformed, Version1) {
  TempDir dir;
  EXPECT_THROW_MSG(read_bytes(dir, test::gguf_start(0, 0, 1)), FormatError, "unsupported version 1");
}

TEST(GgufMalformed, BigEndianFile) {
  TempDir dir;
  EXPECT_THROW_MSG(read_bytes(dir, test::gguf_start(0, 0, 0x03000000)), FormatError, "big-endian");
}

TEST(GgufMalformed, TooSmall) {
  TempDir dir;
  Bytes b;
  b.raw("GGUF").u32(3);
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, "file too small for a GGUF header: 8 bytes");
}

TEST(GgufMalformed, StringLengthAbsurd) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 1);
  b.u64(1ull << 40).raw("general.architecture");  // the key claims 1 TiB
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, "string length 1099511627776 exceeds the 20 bytes left");
}

TEST(GgufMalformed, StringValueLengthAbsurd) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 1);
  b.str("k").u32(gt::kString).u64(UINT64_MAX).raw("abc");
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, R"(key "k", string at offset)");
}

TEST(GgufMalformed, ArrayLengthAbsurd) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 1);
  b.str("k").u32(gt::kArray).u32(gt::kUint32).u64(1ull << 50).u32(1);
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, "array length 1125899906842624 of uint32 exceeds");
}

TEST(GgufMalformed, ArrayByteSizeOverflows) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 1);
  // 2^62 uint64 elements = 2^65 bytes: the product overflows.
  b.str("k").u32(gt::kArray).u32(gt::kUint64).u64(1ull << 62).u64(1);
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, "array length 4611686018427387904 of uint64 exceeds");
}

TEST(GgufMalformed, StringArrayLengthAbsurd) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 1);
  // Each string needs at least its 8-byte length: 10^6 strings cannot fit in 20 bytes.
  b.str("tokens").u32(gt::kArray).u32(gt::kString).u64(1000000).str("a").str("b");
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, "array length 1000000 of string exceeds");
}

TEST(GgufMalformed, KvCountAbsurd) {
  TempDir dir;
  EXPECT_THROW_MSG(read_bytes(dir, test::gguf_start(0, 1ull << 60)), FormatError,
                   "kv_count 1152921504606846976 impossible for a file of 24 bytes");
}

TEST(GgufMalformed, TensorCountAbsurd) {
  TempDir dir;
  EXPECT_THROW_MSG(read_bytes(dir, test::gguf_start(UINT64_MAX, 0)), FormatError,
                   "tensor_count 18446744073709551615 impossible");
}

TEST(GgufMalformed, TruncatedInMetadata) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 2);
  b.str("a").u32(gt::kUint32).u32(1).str("b").u32(gt::kUint64).u32(0);  // uint64 cut to 4 bytes
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, "file truncated: uint64 needs 8 bytes");
}

TEST(GgufMalformed, UnknownValueType) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 1);
  b.str("k").u32(13).u64(0);
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, R"(unknown value type 13 ()");
}

TEST(GgufMalformed, DuplicateKey) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 2);
  b.str("k").u32(gt::kUint8).u8(1).str("k").u32(gt::kUint8).u8(2);
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, R"(duplicate key)");
}

TEST(GgufMalformed, ArraysNestedTooDeep) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 1);
  b.str("k").u32(gt::kArray);
  for (int i = 0; i < 40; ++i) b.u32(gt::kArray).u64(1);
  b.u32(gt::kUint8).u64(0);
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, "arrays nested deeper than 16");
}

TEST(GgufMalformed, UnknownGgmlType) {
  TempDir dir;
  // Type 4 was Q4_2, removed from ggml.
  EXPECT_THROW_MSG(read_bytes(dir, one_tensor(4, 0, {32}, 32)), FormatError,
                   R"(unknown ggml type id 4 ()");
}

TEST(GgufMalformed, TooManyDims) {
  TempDir dir;
  EXPECT_THROW_MSG(read_bytes(dir, one_tensor(0, 0, {1, 1, 1, 1, 1}, 32)), FormatError,
                   "n_dims 5 exceeds the ggml maximum of 4");
}

TEST(GgufMalformed, NegativeDim) {
  TempDir dir;
  EXPECT_THROW_MSG(read_bytes(dir, one_tensor(0, 0, {UINT64_MAX}, 32)), FormatError, "is negative as int64");
}

TEST(GgufMalformed, ElementCountOverflows) {
  TempDir dir;
  EXPECT_THROW_MSG(read_bytes(dir, one_tensor(0, 0, {1ull << 40, 1ull << 40}, 32)), FormatError,
                   "element count overflows");
}

TEST(GgufMalformed, RowNotMultipleOfBlock) {
  TempDir dir;
  // Q4_0 (type 2) blocks hold 32 elements; a row of 16 cannot be stored.
  EXPECT_THROW_MSG(read_bytes(dir, one_tensor(2, 0, {16, 2}, 32)), FormatError,
                   "row of 16 elements is not a multiple of the Q4_0 block size 32");
}

TEST(GgufMalformed, TensorOffsetOutsideFile) {
  TempDir dir;
  // F32 [8] = 32 bytes at offset 64 of a 32-byte data section.
  EXPECT_THROW_MSG(read_bytes(dir, one_tensor(0, 64, {8}, 32)), FormatError,
                   "tensor data outside the file: offset 64 + 32 bytes");
}

TEST(GgufMalformed, TensorEndOffsetOverflows) {
  TempDir dir;
  EXPECT_THROW_MSG(read_bytes(dir, one_tensor(0, 0xffffffffffffffe0ull, {8}, 32)), FormatError,
                   "tensor data outside the file");
}

TEST(GgufMalformed, MisalignedOffset) {
  TempDir dir;
  EXPECT_THROW_MSG(read_bytes(dir, one_tensor(0, 7, {1}, 32)), FormatError,
                   "tensor offset 7 is not a multiple of the alignment 32");
}

TEST(GgufMalformed, OverlappingTensors) {
  TempDir dir;
  Bytes b = test::gguf_start(2, 0);
  b.str("a").u32(1).u64(16).u32(0).u64(0);   // F32 [16]: [0, 64)
  b.str("b").u32(1).u64(16).u32(0).u64(32);  // F32 [16]: [32, 96)
  b.pad_to(32).zeros(96);
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, R"(tensors overlap: "a" [0, 64) and "b" [32, 96))");
}

TEST(GgufMalformed, DuplicateTensorName) {
  TempDir dir;
  Bytes b = test::gguf_start(2, 0);
  b.str("a").u32(1).u64(8).u32(0).u64(0);
  b.str("a").u32(1).u64(8).u32(0).u64(32);
  b.pad_to(32).zeros(64);
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, R"(duplicate tensor name)");
}

TEST(GgufMalformed, AlignmentNotPowerOfTwo) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 1);
  b.str("general.alignment").u32(gt::kUint32).u32(48);
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, "general.alignment is not a power of two");
}

TEST(GgufMalformed, AlignmentNotInteger) {
  TempDir dir;
  Bytes b = test::gguf_start(0, 1);
  b.str("general.alignment").u32(gt::kString).str("32");
  EXPECT_THROW_MSG(read_bytes(dir, b), FormatError, "general.alignment is not an integer");
}

}  // namespace
}  // namespace mlxcel
