// The text pipeline around the BPE model, with Hugging Face tokenizers' semantics: normalizers,
// pre-tokenizers and decoders. Loaders (tokenizer.json, tiktoken, GGUF, llama2.c) describe their
// tokenizer with these steps so that one engine runs them all.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/regex.h"

namespace mlxcel::tok {

// ---- normalizers ----------------------------------------------------------------------------

struct NormalizerStep {
  enum class Kind { Prepend, Replace, Lowercase, Strip, Identity };
  Kind kind = Kind::Identity;
  std::string text;                    // Prepend: the prefix; Replace: literal pattern
  std::string content;                 // Replace: replacement
  std::shared_ptr<const Regex> regex;  // Replace with a regex pattern
  bool strip_left = false, strip_right = false;
};

std::string normalize(const std::vector<NormalizerStep>& steps, std::string s);

// How much a chain can lengthen text: a segment of n >= 1 bytes comes out at most n * growth bytes
// (Replace by a longer content, a regex that matches empty strings, Prepend, Lowercase's 2-byte ->
// 3-byte code points). Saturates at UINT64_MAX. Loaders refuse chains beyond kMaxTextGrowth, so
// that memory for a text stays proportional to it.
inline constexpr uint64_t kMaxTextGrowth = 64;
uint64_t normalizer_growth(const std::vector<NormalizerStep>& steps);
// How much a chain can shorten text: a segment of n bytes comes out at least n / shrink bytes, or
// 0 when it may remove text without bound (Strip, Replace by a shorter or empty content via regex).
uint64_t normalizer_shrink(const std::vector<NormalizerStep>& steps);

// ---- pre-tokenizers ---------------------------------------------------------------------------

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
enum class PrependScheme { Always, First, Never };

struct PreTokenizerStep {
  enum class Kind { ByteLevel, Split, Digits, Metaspace, Punctuation, Whitespace, WhitespaceSplit };
  Kind kind = Kind::Split;
  // ByteLevel
  bool add_prefix_space = false;
  bool use_regex = true;
  // Split / Digits / Punctuation / Whitespace: matches come from `regex`, or `literal` if set
  std::shared_ptr<const Regex> regex;
  std::string literal;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  // Metaspace
  std::string replacement = "\xE2\x96\x81";  // U+2581
  PrependScheme prepend_scheme = PrependScheme::Always;
  bool split = true;
};

// A piece of text on its way to the model; at_start: it begins at offset 0 of the input
// (Metaspace's prepend_scheme "first" only prefixes such a piece).
struct Piece {
  std::string text;
  bool at_start = false;
};

void pre_tokenize(const std::vector<PreTokenizerStep>& steps, std::vector<Piece>& pieces);

// Splits a string of `size` bytes at the given matches according to `behavior` (Hugging Face's
// SplitDelimiterBehavior) and returns the [begin, end) ranges of the pieces; empty ones dropped.
std::vector<std::pair<size_t, size_t>> split_by_matches(size_t size,
                                                         const std::vector<std::pair<size_t, size_t>>& matches,
                                                         SplitBehavior behavior, bool invert);

// The GPT-2 pattern that ByteLevel(use_regex) applies.
const std::shared_ptr<const Regex>& gpt2_regex();

// ---- decoders ---------------------------------------------------------------------------------

struct DecoderStep {
  enum class Kind { ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace };
  Kind kind = Kind::Fuse;
  std::string pattern, content;        // Replace (literal pattern)
  std::shared_ptr<const Regex> regex;  // Replace with a regex pattern
  std::string strip_content = " ";     // Strip: one character
  size_t strip_start = 0, strip_stop = 0;
  std::string replacement = "\xE2\x96\x81";  // Metaspace
  PrependScheme prepend_scheme = PrependScheme::Always;
};

// Where the tokens given to run_decoders sit: a whole sequence, or one token of a stream (the
// first one, or a later one). Steps that only touch the start of the sequence (Metaspace's first
// token, Strip after a Fuse) apply to Whole and StreamFirst only; trailing Strip needs the end of
// the sequence and applies to Whole only.
enum class DecodeContext { Whole, StreamFirst, StreamNext };

// Runs the chain over token strings and returns the concatenated raw bytes (not yet checked as
// UTF-8). With no steps, tokens are joined by single spaces, as Hugging Face does.
std::string run_decoders(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens,
                         DecodeContext ctx);

// As normalizer_growth, for the Replace steps of a decoder chain (the others never lengthen).
uint64_t decoder_growth(const std::vector<DecoderStep>& steps);

}  // namespace mlxcel::tok
