// What a loader produces: the whole pipeline of one tokenizer. Loaders fill the fields, then
// finalize() derives the lookup tables; after that the data is immutable and shared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pipeline.h"

namespace mlxcel::tok {

// Token ids index dense tables (id -> text, flags), so one id of 100,000,000 would allocate
// gigabytes. Loaders accept an id only below the number of entries they read (vocabulary lines,
// added tokens) plus this slack for gaps: tables stay proportional to the file.
inline constexpr uint64_t kIdSlack = 1024;

// Throws FormatError "token id is larger than the file justifies (where, field, token, value, limit)"
// unless 0 <= id < limit; `limit_why` says what the limit counts.
void check_id_bound(int64_t id, uint64_t limit, const std::string& where, std::string_view field,
                    std::string_view token, std::string_view limit_why);

struct TokenizerData {
  std::string description;
  std::string source;  // file, for messages
  BpeModel model;
  std::vector<AddedToken> added;
  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokenizerStep> pre_tokenizers;
  std::vector<DecoderStep> decoders;
  std::vector<int32_t> prefix_ids, suffix_ids;  // post-processor for a single sequence
  std::optional<int32_t> bos, eos;

  // Derived by finalize().
  std::vector<std::string> id_to_token;  // model vocabulary and added tokens
  std::vector<uint8_t> present;
  std::vector<uint8_t> special;
  AddedTokenMatcher raw_matcher;         // tokens with normalized == false, found in the input
  AddedTokenMatcher normalized_matcher;  // tokens with normalized == true, in normalized text
  bool lossless = true;
  uint64_t max_token_bytes = 0;          // Tokenizer::max_token_bytes()

  // Builds the tables; throws FormatError on an added token whose id clashes with a different
  // vocabulary token or lies beyond model ids + added tokens + kIdSlack, or post-processor ids
  // outside the vocabulary.
  void finalize();
};

}  // namespace mlxcel::tok
