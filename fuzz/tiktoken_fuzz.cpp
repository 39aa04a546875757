// Fuzzes the tiktoken tokenizer.model loader (Llama 3 format: "base64(token) rank" per line) with
// its tokenizer_config.json, then encodes/decodes short texts (tokenizer_exercise.h). Input parts,
// separated by the line "--mlxcel-fuzz-part--": tokenizer.model, optional tokenizer_config.json
// (a small Llama 3 style one, special ids 1000-1002, when absent), optional text to encode. from_tiktoken takes paths, so
// both files are in-memory files (memfd) reached by /proc/self/fd/N.
// Seeds: fuzz/corpus/tiktoken_fuzz; scripts/fuzz.sh adds the first ranks of
// ../shared/testdata/llama-3-8b-instruct-tokenizer/tokenizer.model. -max_len 262144.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "mlxcel/errors.h"
#include "tokenizer_exercise.h"

namespace {
constexpr std::string_view kDefaultConfig = R"({
  "added_tokens_decoder": {
    "1000": {"content": "<|begin_of_text|>", "special": true},
    "1001": {"content": "<|end_of_text|>", "special": true},
    "1002": {"content": "<|eot_id|>", "special": true}
  },
  "bos_token": "<|begin_of_text|>",
  "eos_token": "<|eot_id|>"
})";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static mlxcel::fuzz::MemFile model("tokenizer.model");
  static mlxcel::fuzz::MemFile config("tokenizer_config.json");
  const auto parts =
      mlxcel::fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 3);
  model.write(parts[0]);
  config.write(parts.size() > 1 ? parts[1] : kDefaultConfig);
  try {
    const mlxcel::Tokenizer tok = mlxcel::Tokenizer::from_tiktoken(model.path(), config.path());
    mlxcel::fuzz::exercise_tokenizer(tok, parts.size() > 2 ? parts[2] : std::string_view());
  } catch (const mlxcel::Error& e) {
    mlxcel::fuzz::refused(e);
  }
  return 0;
}
