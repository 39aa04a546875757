// llama2.c tokenizer .bin files: int32 max_token_length, then per token float32 score, int32 byte
// length and the bytes. SentencePiece pieces are stored with "▁" turned into " ", and BOS/EOS
// as "\n<s>\n" / "\n</s>\n".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mlxcel::tok {

struct Llama2cVocab {
  int32_t max_token_length = 0;
  std::vector<std::string> tokens;  // as stored
  std::vector<float> scores;
};

// Throws IoError / FormatError (truncated entry, negative or oversized length, no tokens).
Llama2cVocab read_llama2c_vocab(const std::string& path);

// The Hugging Face form of a stored piece: " " -> "▁", BOS/EOS (ids 1, 2) back to "<s>"/"</s>".
std::string llama2c_piece_to_hf(const Llama2cVocab& v, size_t id);

}  // namespace mlxcel::tok
