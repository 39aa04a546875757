// Text <-> token ids for the runtime and the converter.
//
// Formats: Hugging Face tokenizer.json (BPE: byte-level and SentencePiece-style with byte
// fallback), tiktoken tokenizer.model + tokenizer_config.json (Llama 3), vocabularies embedded in
// GGUF files (tokenizer.ggml.model "llama" and "gpt2"), and llama2.c tokenizer .bin files. Every
// format is turned into one pipeline (added tokens -> normalizers -> pre-tokenizers -> BPE ->
// post-processor; decoders for the way back) with Hugging Face tokenizers' semantics.
// All loaders throw IoError (cannot read) or FormatError (malformed/unsupported contents).
// A Tokenizer is immutable and cheap to copy; encode/decode are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mlxcel {

namespace tok {
struct TokenizerData;
}

struct EncodeOptions {
  bool add_special = true;    // BOS/EOS (or the template) of the post-processor / add_bos flags
  bool parse_special = true;  // match special tokens written in the text (e.g. "<|eot_id|>")
};

struct DecodeOptions {
  bool skip_special = false;  // drop special tokens (BOS, EOS, control tokens)
};

class StreamDecoder;

class Tokenizer {
 public:
  // Chooses the loader: a directory (tokenizer.json, else tiktoken tokenizer.model +
  // tokenizer_config.json), a .gguf file, a tokenizer.json file, or a llama2.c .bin tokenizer.
  static Tokenizer from_path(const std::string& path);
  // tokenizer_config.json is optional (""): it supplies bos/eos and extra added tokens.
  static Tokenizer from_hf_json(const std::string& tokenizer_json_path, const std::string& tokenizer_config_path = "");
  static Tokenizer from_hf_json_text(const std::string& tokenizer_json, const std::string& tokenizer_config_json = "",
                                     const std::string& source = "tokenizer.json");
  static Tokenizer from_tiktoken(const std::string& tokenizer_model_path, const std::string& tokenizer_config_path);
  static Tokenizer from_gguf(const std::string& gguf_path);
  // From already-read GGUF metadata (read_gguf(...).metadata); `source` names it in errors.
  static Tokenizer from_gguf_metadata(const nlohmann::json& metadata, const std::string& source);
  static Tokenizer from_llama2c(const std::string& tokenizer_bin_path);

  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Unknown ids are skipped (as Hugging Face does); invalid UTF-8 becomes U+FFFD.
  std::string decode(std::span<const int32_t> ids, const DecodeOptions& options = {}) const;
  // Bytes the token contributes in the middle of a text (e.g. " Hello" for "▁Hello", "\n" for
  // "<0x0A>"); may be an incomplete UTF-8 sequence. Empty for an unknown id.
  std::string token_to_piece(int32_t id) const;
  // The vocabulary string of the token ("▁Hello", "ĠHello", "<|eot_id|>"); empty if unknown.
  std::string id_to_token(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // `context`: ids already shown before the stream (e.g. the prompt), so that the first streamed
  // token is decoded as a continuation (its leading space kept) unless the context is empty or
  // only skipped special tokens (e.g. just BOS).
  StreamDecoder stream_decoder(const DecodeOptions& options = {}, std::span<const int32_t> context = {}) const;

  // One past the largest id of the vocabulary and the added tokens.
  int32_t vocab_size() const;
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> unk_id() const;
  // Whether encode(..., add_special) puts BOS first / EOS last.
  bool adds_bos() const;
  bool adds_eos() const;
  bool is_special(int32_t id) const;
  // Decoding is exact (decode(encode(x)) == x for valid UTF-8 x): false when characters may fall
  // back to an unknown token (no byte-level vocabulary, no complete byte fallback) or a Lowercase /
  // Strip normalizer forgets text.
  bool is_lossless() const;
  // The most bytes of input text one token can stand for (the longest vocabulary entry as input
  // bytes, the longest added token, the normalizers' worst shrinking taken into account), so that
  // encode(text) yields at least ceil(text.size() / max_token_bytes()) ids besides BOS/EOS: a
  // cheap lower bound for refusing a prompt that cannot fit a context before tokenizing it.
  // 0 when no such bound exists: text may vanish or fuse into one token without limit (Strip or
  // regex Replace normalizers, pre-tokenizers that remove text, added tokens with lstrip/rstrip
  // that swallow whitespace runs, a fused unknown token, characters with no token). Computed at
  // load.
  uint64_t max_token_bytes() const;
  // ceil(text_bytes / max_token_bytes()), or 0 when max_token_bytes() is 0.
  uint64_t min_token_count(uint64_t text_bytes) const;
  // Human description of the format, e.g. "tokenizer.json (BPE, byte-level)".
  const std::string& description() const;

  explicit Tokenizer(std::shared_ptr<const tok::TokenizerData> data);

 private:
  std::shared_ptr<const tok::TokenizerData> d_;
  friend class StreamDecoder;
};

// Incremental decoding for streamed generation: push ids one at a time and get back only
// complete UTF-8 text (a character split over byte-fallback or byte-level tokens is held until its
// last byte arrives). The concatenation of push() results and flush() equals decode(ids), except
// for a Strip decoder's trailing `stop` and how ill-formed bytes group into U+FFFD (docs/tokenizers.md).
class StreamDecoder {
 public:
  std::string push(int32_t id);
  // Anything still held (an incomplete character) as U+FFFD; resets to the start of a sequence.
  std::string flush();

 private:
  friend class Tokenizer;
  StreamDecoder(std::shared_ptr<const tok::TokenizerData> data, DecodeOptions options,
                std::span<const int32_t> context);
  std::shared_ptr<const tok::TokenizerData> d_;
  DecodeOptions options_;
  std::string pending_;
  bool first_ = true;
};

// Writes <out_dir>/tokenizer.json and <out_dir>/tokenizer_config.json equivalent to a llama2.c
// tokenizer .bin: Hugging Face BPE with byte fallback whose merges reproduce llama2.c's
// score-greedy merging, "▁" for spaces with the dummy-prefix space, BOS/EOS ids 1/2.
// Creates out_dir if needed. Throws IoError / FormatError.
void export_llama2c_tokenizer(const std::string& tok_bin, const std::string& out_dir);

}  // namespace mlxcel
