// Fuzzes the vocabularies embedded in GGUF files (tokenizer.ggml.model "llama" / "gpt2": tokens,
// scores, token types, merges, special ids, add_bos/eos flags): the input is a whole .gguf file,
// loaded by Tokenizer::from_gguf (read_gguf keeping every array, then from_gguf_metadata) from an
// in-memory file, then short texts are encoded/decoded (tokenizer_exercise.h).
// Seeds: fuzz/corpus/gguf_vocab_fuzz (tiny vocab-only GGUFs); scripts/fuzz.sh adds vocabularies
// cut down from ../shared/testdata/llama.cpp-ggml-vocab/*.gguf by build-fuzz/fuzz/fuzz_seeds.
// -max_len 262144.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "mlxcel/errors.h"
#include "tokenizer_exercise.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static mlxcel::fuzz::MemFile file("vocab.gguf");
  file.write(std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    const mlxcel::Tokenizer tok = mlxcel::Tokenizer::from_gguf(file.path());
    mlxcel::fuzz::exercise_tokenizer(tok, {});
  } catch (const mlxcel::Error& e) {
    mlxcel::fuzz::refused(e);
  }
  return 0;
}
