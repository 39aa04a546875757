// The BPE model shared by every supported format. Two ways to rank a merge of adjacent symbols:
//  - MergeTable: an explicit (left id, right id) -> (rank, merged id) table (Hugging Face merges,
//    GGUF tokenizer.ggml.merges);
//  - TokenRank: any pair whose concatenated text is a vocabulary token merges, ranked by that
//    token (tiktoken ranks, SentencePiece/llama2.c scores). Equal ranks fall back to the leftmost
//    pair, which is exactly tiktoken's, llama.cpp SPM's and llama2.c's tie rule.
// Merging uses a priority queue over a linked list of symbols: O(n log n) for a word of n chars.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mlxcel::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

enum class MergeMode { MergeTable, TokenRank };

struct BpeModel {
  struct Merge {
    int32_t rank;
    int32_t id;
  };

  std::vector<std::string> id_to_token;  // model vocabulary; gaps hold "" and present[id] == 0
  std::vector<uint8_t> present;
  TokenMap token_to_id;
  MergeMode mode = MergeMode::MergeTable;
  std::unordered_map<uint64_t, Merge> merges;  // MergeTable
  std::vector<int32_t> token_rank;             // TokenRank: rank per id, -1 = never merged into
  int32_t unk_id = -1;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;  // a word that is a whole token is taken as is
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  std::array<int32_t, 256> byte_token{};  // "<0xXX>" ids for byte fallback, -1 when absent

  // Adds a token; throws FormatError on a duplicate id, and on a duplicate text unless
  // `later_text_wins` (GGUF vocabularies may repeat a string; llama.cpp maps it to the last id).
  void add_token(const std::string& text, int32_t id, const std::string& where, bool later_text_wins = false);
  // Adds "left right" with the given rank; throws FormatError naming the unknown token.
  void add_merge(std::string_view left, std::string_view right, int32_t rank, const std::string& where);
  // Call once after the vocabulary is complete.
  void finalize();

  // Appends the ids of one pre-tokenized word (valid UTF-8).
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  BpeModel() = default;
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

 private:
  // Long words (whole texts for SentencePiece-style models) are cut between two characters that
  // are both tokens and never adjacent inside any token: no merge can cross such a cut, so the
  // pieces encode independently with the same result, and the merge queue stays small.
  void merge_segment(std::string_view word, std::vector<int32_t>& out) const;
  const std::unordered_set<uint64_t>& inner_pairs() const;
  mutable std::once_flag inner_pairs_once_;
  mutable std::unordered_set<uint64_t> inner_pairs_;  // (code point, next code point) inside tokens
};

}  // namespace mlxcel::tok
