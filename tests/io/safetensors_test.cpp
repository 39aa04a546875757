// safetensors reader/writer: exact layouts, round trips, sparse large models.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <fmt/format.h>

#include "io/locator.h"
#include "io_test_util.h"
#include "mlxcel/errors.h"
#include "support/test_paths.h"

namespace mlxcel {
namespace {

using test::TempDir;

std::vector<SafetensorsTensorData> small_tensors(const float* a, const uint16_t* b, const uint8_t* c) {
  return {{"a", DType::F32, {2, 3}, a}, {"b", DType::BF16, {4}, b}, {"c", DType::U8, {3}, c}};
}

TEST(Safetensors, WriterLayoutIsExact) {
  TempDir dir;
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const uint16_t b[4] = {0x3f80, 0x4000, 0x4040, 0x4080};
  const uint8_t c[3] = {7, 8, 9};
  write_safetensors(dir.file("m.safetensors"), small_tensors(a, b, c), {{"format", "pt"}});

  // Header JSON (compact, keys sorted) is the 198-byte string below (counted with Python's
  // len()); padded with 2 spaces to 200, a multiple of 8. Data: a = 6 x 4 = 24 bytes,
  // b = 4 x 2 = 8, c = 3 x 1 = 3 -> 35. File: 8 + 200 + 35 = 243 bytes.
  const std::string json =
      R"({"__metadata__":{"format":"pt"},"a":{"data_offsets":[0,24],"dtype":"F32","shape":[2,3]},)"
      R"("b":{"data_offsets":[24,32],"dtype":"BF16","shape":[4]},"c":{"data_offsets":[32,35],"dtype":"U8","shape":[3]}})";
  ASSERT_EQ(json.size(), 198u);
  std::string bytes = test::read_file(dir.file("m.safetensors"));
  ASSERT_EQ(bytes.size(), 243u);
  test::Bytes expect;
  expect.u64(200).raw(json).raw("  ");
  expect.b.append(reinterpret_cast<const char*>(a), 24);
  expect.b.append(reinterpret_cast<const char*>(b), 8);
  expect.b.append(reinterpret_cast<const char*>(c), 3);
  EXPECT_EQ(bytes, expect.b);
}

TEST(Safetensors, ReadsHeaderOnly) {
  TempDir dir;
  const float a[6] = {};
  const uint16_t b[4] = {};
  const uint8_t c[3] = {};
  write_safetensors(dir.file("m.safetensors"), small_tensors(a, b, c));
  SafetensorsHeader h = read_safetensors_header(dir.file("m.safetensors"));
  // Header JSON without metadata: 167 bytes (Python len()), padded to 168. data_start = 8 + 168.
  EXPECT_EQ(h.header_len, 168u);
  EXPECT_EQ(h.data_start, 176u);
  EXPECT_EQ(h.file_size, 176u + 35u);
  EXPECT_EQ(h.bytes_read, 176u);  // the 8-byte length and the header, nothing of the data
  EXPECT_TRUE(h.metadata.empty());
  ASSERT_EQ(h.tensors.size(), 3u);
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[0].dtype, DType::F32);
  EXPECT_EQ(h.tensors[0].shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(h.tensors[0].bytes, 24u);
  EXPECT_EQ(h.tensors[0].offset, 176u);
  EXPECT_EQ(h.tensors[1].name, "b");
  EXPECT_EQ(h.tensors[1].dtype, DType::BF16);
  EXPECT_EQ(h.tensors[1].bytes, 8u);
  EXPECT_EQ(h.tensors[1].offset, 176u + 24u);
  EXPECT_EQ(h.tensors[2].name, "c");
  EXPECT_EQ(h.tensors[2].bytes, 3u);
  EXPECT_EQ(h.tensors[2].offset, 176u + 32u);
}

TEST(Safetensors, ReadsHandWrittenFileWithAllDtypes) {
  // One element of each safetensors dtype, laid out in this order; sizes 1,1,1,2,2,4,4,8,8,1,1,2,2,4,8.
  const char* names[] = {"BOOL", "U8",  "I8",      "U16",     "I16", "U32",  "I32", "U64",
                         "I64",  "F8_E4M3", "F8_E5M2", "F16", "BF16", "F32", "F64"};
  const uint64_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 1, 1, 2, 2, 4, 8};
  std::string header = "{";
  uint64_t pos = 0;
  for (int i = 0; i < 15; ++i) {
    header += fmt::format(R"({}"t{:02d}":{{"dtype":"{}","shape":[1],"data_offsets":[{},{}]}})", i ? "," : "",
                          i, names[i], pos, pos + sizes[i]);
    pos += sizes[i];
  }
  header += "}";
  ASSERT_EQ(pos, 49u);  // 1+1+1+2+2+4+4+8+8+1+1+2+2+4+8
  TempDir dir;
  test::write_file(dir.file("all.safetensors"), test::safetensors_bytes(header, 49));
  SafetensorsHeader h = read_safetensors_header(dir.file("all.safetensors"));
  ASSERT_EQ(h.tensors.size(), 15u);
  uint64_t total = 0;
  for (const auto& t : h.tensors) total += t.bytes;
  EXPECT_EQ(total, 49u);
  EXPECT_EQ(h.tensors[9].dtype, DType::F8_E4M3);
  EXPECT_EQ(h.tensors[10].dtype, DType::F8_E5M2);
  EXPECT_EQ(h.tensors[0].dtype, DType::Bool);
}

TEST(Safetensors, EmptyAndScalarTensorsAreValid) {
  // A [0, 4] tensor spans 0 bytes and may share its offset; a scalar (shape []) holds 1 element.
  const std::string header =
      R"({"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"s":{"dtype":"F16","shape":[],"data_offsets":[0,2]}})";
  TempDir dir;
  test::write_file(dir.file("x.safetensors"), test::safetensors_bytes(header, 2));
  SafetensorsHeader h = read_safetensors_header(dir.file("x.safetensors"));
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].bytes + h.tensors[1].bytes, 2u);
}

TEST(Safetensors, HoleWriterMakesSparseFileOfRealSize) {
  TempDir dir;
  // 1 GiB of BF16: 2^29 elements x 2 bytes, written as a hole.
  write_safetensors(dir.file("big.safetensors"), {{"w", DType::BF16, {32768, 16384}, nullptr}});
  SafetensorsHeader h = read_safetensors_header(dir.file("big.safetensors"));
  EXPECT_EQ(h.file_size, h.data_start + 1073741824u);
  EXPECT_EQ(test::file_size(dir.file("big.safetensors")), h.data_start + 1073741824u);
  EXPECT_LT(test::disk_usage(dir.file("big.safetensors")), 1u << 20);
}

TEST(Safetensors, WriterLeavesNoTemporaryFiles) {
  TempDir dir;
  write_safetensors(dir.file("m.safetensors"), {{"w", DType::F32, {1}, nullptr}});
  EXPECT_THROW(write_safetensors(dir.file("q.safetensors"), {{"w", DType::Q4_0, {32}, nullptr}}),
               FormatError);
  EXPECT_THROW(write_safetensors(dir.file("missing-dir/m.safetensors"), {{"w", DType::F32, {1}, nullptr}}),
               IoError);
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"m.safetensors"});
}

TEST(Safetensors, IndexRoundTrip) {
  TempDir dir;
  write_safetensors_index(dir.file("model.safetensors.index.json"), 1234,
                          {{"a", "model-00001-of-00002.safetensors"},
                           {"b", "model-00002-of-00002.safetensors"},
                           {"c", "model-00001-of-00002.safetensors"}});
  SafetensorsIndex idx = read_safetensors_index(dir.file("model.safetensors.index.json"));
  ASSERT_TRUE(idx.total_size.has_value());
  EXPECT_EQ(*idx.total_size, 1234u);
  EXPECT_EQ(idx.weight_map.size(), 3u);
  EXPECT_EQ(idx.shard_files, (std::vector<std::string>{"model-00001-of-00002.safetensors",
                                                       "model-00002-of-00002.safetensors"}));
}

TEST(Safetensors, IndexTotalSizeIsOptionalAndMayBeIntegralFloat) {
  TempDir dir;
  test::write_file(dir.file("a.json"), R"({"weight_map": {"x": "m.safetensors"}})");
  EXPECT_FALSE(read_safetensors_index(dir.file("a.json")).total_size.has_value());
  test::write_file(dir.file("b.json"), R"({"metadata": {"total_size": 16060522496.0}, "weight_map": {}})");
  EXPECT_EQ(read_safetensors_index(dir.file("b.json")).total_size, 16060522496u);
}

// A Llama-3.1-405B-shaped model (hidden 16384, 126 layers, FFN 53248, 8 KV heads x 128, vocab
// 128256, BF16) in 32 sparse shards: per layer 2x16384 (norms) + 2x16384^2 (q, o) +
// 2x1024x16384 (k, v) + 3x53248x16384 (MLP) = 3,187,703,808 parameters; x126 =
// 401,650,679,808; + embeddings and lm_head 2 x 128256 x 16384 = 4,202,692,608; + final norm
// 16384 -> 405,853,388,800 parameters = 811,706,777,600 bytes.
TEST(Safetensors, Sparse400BShardedModelReadsUnder1MiBPerShard) {
  constexpr uint64_t h = 16384, f = 53248, kv = 1024, vocab = 128256;
  constexpr int layers = 126, shards = 32;
  TempDir dir;
  std::vector<std::vector<SafetensorsTensorData>> per_shard(shards);
  std::map<std::string, std::string> weight_map;
  auto shard_name = [&](int s) { return fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards); };
  auto add = [&](int s, std::string name, std::vector<uint64_t> shape) {
    weight_map[name] = shard_name(s);
    per_shard[s].push_back({std::move(name), DType::BF16, std::move(shape), nullptr});
  };
  add(0, "model.embed_tokens.weight", {vocab, h});
  for (int l = 0; l < layers; ++l) {
    int s = l / 4;
    std::string p = fmt::format("model.layers.{}.", l);
    add(s, p + "input_layernorm.weight", {h});
    add(s, p + "post_attention_layernorm.weight", {h});
    add(s, p + "self_attn.q_proj.weight", {h, h});
    add(s, p + "self_attn.k_proj.weight", {kv, h});
    add(s, p + "self_attn.v_proj.weight", {kv, h});
    add(s, p + "self_attn.o_proj.weight", {h, h});
    add(s, p + "mlp.gate_proj.weight", {f, h});
    add(s, p + "mlp.up_proj.weight", {f, h});
    add(s, p + "mlp.down_proj.weight", {h, f});
  }
  add(shards - 1, "model.norm.weight", {h});
  add(shards - 1, "lm_head.weight", {vocab, h});
  for (int s = 0; s < shards; ++s) write_safetensors(dir.file(shard_name(s)), per_shard[s]);
  write_safetensors_index(dir.file("model.safetensors.index.json"), 811706777600u, weight_map);
  test::write_file(dir.file("config.json"), R"({"model_type": "llama"})");

  LocatedModel m = locate_model(dir.path().string());
  ASSERT_EQ(m.format, ModelFormat::SafetensorsDir);
  ASSERT_EQ(m.weight_files.size(), 32u);
  uint64_t total = 0, tensors = 0;
  for (const auto& file : m.weight_files) {
    SafetensorsHeader hdr = read_safetensors_header(file);
    EXPECT_LT(hdr.bytes_read, 1u << 20) << file;
    EXPECT_EQ(hdr.bytes_read, hdr.data_start) << file;
    EXPECT_LT(test::disk_usage(file), 1u << 20) << file;
    for (const auto& t : hdr.tensors) total += t.bytes;
    tensors += hdr.tensors.size();
  }
  EXPECT_EQ(total, 811706777600u);
  EXPECT_EQ(tensors, 126u * 9u + 3u);  // 9 per layer + embeddings, final norm, lm_head
  // Shard 1 holds the embeddings and layers 0-3: 2 x (4 x 3,187,703,808 + 2,101,346,304).
  SafetensorsHeader first = read_safetensors_header(m.weight_files[0]);
  EXPECT_EQ(first.file_size - first.data_start, 29704323072u);
  EXPECT_EQ(*read_safetensors_index(*m.index_path).total_size, 811706777600u);
}

}  // namespace
}  // namespace mlxcel
