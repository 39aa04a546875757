// Parsing of Hugging Face tokenizer.json components, shared by the loaders that describe their
// pipeline in the same vocabulary (GGUF pre-tokenizer types are written as tokenizer.json
// pre_tokenizer objects).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/pipeline.h"
#include "tokenizer/tokenizer_data.h"

namespace mlxcel::tok {

std::vector<NormalizerStep> parse_normalizer(const nlohmann::json& j, const std::string& where);
std::vector<PreTokenizerStep> parse_pre_tokenizer(const nlohmann::json& j, const std::string& where);
std::vector<DecoderStep> parse_decoder(const nlohmann::json& j, const std::string& where);

// Larger than any real tokenizer file (Gemma 3's tokenizer.json is 33 MB): a file past it is
// refused before it is read.
inline constexpr uint64_t kMaxTokenizerFileBytes = 1ull << 30;
// The whole of a tokenizer file. IoError when it cannot be opened or read or is not a regular
// file (a FIFO or /dev/zero never ends); FormatError beyond kMaxTokenizerFileBytes.
std::string read_tokenizer_file(const std::string& path, std::string_view what);
// Reads a whole JSON file; throws IoError / FormatError (syntax, with line and column).
nlohmann::json read_json_file(const std::string& path, const char* what);
nlohmann::json parse_json_text(const std::string& text, const std::string& where);

// tokenizer_config.json: bos/eos token text (string or {"content": ...}) and added_tokens_decoder.
struct TokenizerConfig {
  std::string source;  // file, for messages
  std::optional<std::string> bos_token, eos_token, unk_token;
  std::optional<bool> add_bos_token, add_eos_token;
  std::vector<AddedToken> added_tokens;
};
TokenizerConfig parse_tokenizer_config(const nlohmann::json& j, const std::string& where);

// Id of a token text among the added tokens, then the model vocabulary.
std::optional<int32_t> find_token(const TokenizerData& d, const std::string& text);

// The tokenizer.json loader proper.
std::shared_ptr<TokenizerData> load_hf_tokenizer(const nlohmann::json& tj, const std::string& where,
                                                 const TokenizerConfig* config);

}  // namespace mlxcel::tok
