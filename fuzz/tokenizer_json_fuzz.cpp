// Fuzzes the Hugging Face tokenizer.json loader (in memory: Tokenizer::from_hf_json_text) and then
// encodes/decodes short texts with it (tokenizer_exercise.h). Input parts, separated by the line
// "--mlxcel-fuzz-part--": tokenizer.json, optional tokenizer_config.json, optional text to encode.
// Seeds: fuzz/corpus/tokenizer_json_fuzz (small hand-made tokenizers and regressions); scripts/fuzz.sh
// adds tokenizers cut down from ../shared/testdata/*-tokenizer by build-fuzz/fuzz/fuzz_seeds.
// -max_len 262144.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "mlxcel/errors.h"
#include "tokenizer_exercise.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts =
      mlxcel::fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 3);
  try {
    const mlxcel::Tokenizer tok = mlxcel::Tokenizer::from_hf_json_text(
        std::string(parts[0]), parts.size() > 1 ? std::string(parts[1]) : std::string());
    mlxcel::fuzz::exercise_tokenizer(tok, parts.size() > 2 ? parts[2] : std::string_view());
  } catch (const mlxcel::Error& e) {
    mlxcel::fuzz::refused(e);
  }
  return 0;
}
