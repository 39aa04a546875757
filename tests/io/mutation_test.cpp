// Every truncation and many single-byte corruptions of valid files: the readers either accept
// the file or throw FormatError (malformed content is never an IoError, never a crash or another
// exception; ASan/UBSan watch the rest).
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "io_test_util.h"
#include "mlxcel/errors.h"
#include "support/test_paths.h"

namespace mlxcel {
namespace {

using test::TempDir;

// Returns how many variants were rejected; fails the test on any other exception.
int mutate_all(const std::string& original, const std::string& path,
               const std::function<void(const std::string&)>& read) {
  int rejected = 0;
  auto attempt = [&](const std::string& bytes, const std::string& what) {
    // Unlink first: truncating and rewriting the same file makes ext4 flush it (auto_da_alloc).
    std::remove(path.c_str());
    test::write_file(path, bytes);
    try {
      read(path);
    } catch (const FormatError&) {
      ++rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": unexpected exception " << e.what();
    }
  };
  for (size_t n = 0; n < original.size(); ++n) attempt(original.substr(0, n), "truncated to " + std::to_string(n));
  for (size_t i = 0; i < original.size(); ++i) {
    for (unsigned char v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      std::string b = original;
      b[i] = static_cast<char>(v);
      attempt(b, "byte " + std::to_string(i) + " = " + std::to_string(v));
    }
  }
  return rejected;
}

TEST(Mutation, GgufNeverCrashes) {
  TempDir dir;
  const uint16_t half[64] = {};
  write_gguf(dir.file("ok.gguf"),
             {{"general.architecture", "llama"},
              {"n", 7},
              {"toks", {"a", "bb", "ccc"}},
              {"scores", {0.5, 1.5}},
              {"nested", nlohmann::json::array({nlohmann::json::array({1, 2}), nlohmann::json::array({3})})}},
             {{"a", DType::F16, {2, 32}, half}, {"q", DType::Q8_0, {32}, nullptr}});
  std::string original = test::read_file(dir.file("ok.gguf"));
  int rejected = mutate_all(original, dir.file("m.gguf"), [](const std::string& p) { (void)read_gguf(p); });
  EXPECT_GT(rejected, static_cast<int>(original.size()));  // every truncation at least
}

TEST(Mutation, GgufElidedNeverCrashes) {
  TempDir dir;
  write_gguf(dir.file("ok.gguf"), {{"toks", {"a", "bb", "ccc"}}, {"ids", {1, 2, 3, 4}}},
             {{"a", DType::F32, {4}, nullptr}});
  std::string original = test::read_file(dir.file("ok.gguf"));
  GgufReadOptions opt;
  opt.max_array_elems_kept = 1;
  mutate_all(original, dir.file("m.gguf"), [&](const std::string& p) { (void)read_gguf(p, opt); });
}

TEST(Mutation, SafetensorsNeverCrashes) {
  TempDir dir;
  const float a[6] = {};
  write_safetensors(dir.file("ok.safetensors"),
                    {{"a", DType::F32, {2, 3}, a}, {"b", DType::BF16, {4}, nullptr}, {"c", DType::U8, {0}, nullptr}},
                    {{"format", "pt"}});
  std::string original = test::read_file(dir.file("ok.safetensors"));
  int rejected = mutate_all(original, dir.file("m.safetensors"),
                            [](const std::string& p) { (void)read_safetensors_header(p); });
  EXPECT_GT(rejected, 0);
}

TEST(Mutation, SafetensorsIndexNeverCrashes) {
  TempDir dir;
  write_safetensors_index(dir.file("ok.json"), 99, {{"a", "x.safetensors"}, {"b", "y.safetensors"}});
  std::string original = test::read_file(dir.file("ok.json"));
  mutate_all(original, dir.file("m.json"), [](const std::string& p) { (void)read_safetensors_index(p); });
}

}  // namespace
}  // namespace mlxcel
