// tiktoken-format tokenizer.model (one "base64(token bytes) rank" per line, as Llama 3 ships it)
// with tokenizer_config.json for the special tokens. Encoding is tiktoken's: the Llama 3 split
// regex, a whole piece that is a token is taken as is, otherwise byte pairs merge by the rank of
// the token they form. Tokens are stored byte-level mapped so that the shared BPE and ByteLevel
// decoder handle them.
#include <fmt/format.h>

#include <algorithm>

#include "core/utf8.h"
#include "mlxcel/errors.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/utf8.h"

namespace mlxcel {

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict RFC 4648 base64 with padding; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(s.size() / 4 * 3);
  for (size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s[i + k];
      if (c == '=' && i + 4 == s.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[k] = base64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const uint32_t n = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xFF));
  }
  return out;
}

constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

}  // namespace

Tokenizer Tokenizer::from_tiktoken(const std::string& tokenizer_model_path, const std::string& tokenizer_config_path) {
  const std::string text = tok::read_tokenizer_file(tokenizer_model_path, "tiktoken tokenizer.model");
  // A SentencePiece model (protobuf) is also named tokenizer.model: binary bytes near the start.
  for (size_t i = 0; i < std::min<size_t>(text.size(), 256); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 && c != '\n' && c != '\r') {
      throw FormatError("tokenizer", fmt::format("not a tiktoken file: binary byte 0x{:02X} at offset {} ({}; a "
                                                 "SentencePiece .model is not supported, use its tokenizer.json)",
                                                 c, i, tokenizer_model_path));
    }
  }

  auto d = std::make_shared<tok::TokenizerData>();
  d->source = tokenizer_model_path;
  d->description = "tiktoken tokenizer.model (BPE by rank, byte-level)";
  tok::BpeModel& model = d->model;
  // Ranks index the id tables: each must be below the number of lines (+ slack), so one rank of
  // 162,725,528 in a small file cannot allocate gigabytes.
  const uint64_t n_lines = static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  const uint64_t rank_limit = n_lines + tok::kIdSlack;
  const std::string limit_why = fmt::format("{} lines + {}", n_lines, tok::kIdSlack);
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    auto bad = [&](const char* what) {
      return FormatError("tokenizer", fmt::format("{} ({}, line {}, value {:?})", what, tokenizer_model_path, line_no,
                                                  utf8_lossy(line.substr(0, 120))));
    };
    if (sp == std::string_view::npos) throw bad("expected \"base64 rank\"");
    const auto raw = base64_decode(line.substr(0, sp));
    if (!raw) throw bad("invalid base64 token");
    const std::string_view rank_text = line.substr(sp + 1);
    int64_t rank = 0;
    if (rank_text.empty() || rank_text.size() > 10) throw bad("invalid rank");
    for (char c : rank_text) {
      if (c < '0' || c > '9') throw bad("invalid rank");
      rank = rank * 10 + (c - '0');
    }
    if (rank > INT32_MAX) throw bad("invalid rank");
    tok::check_id_bound(rank, rank_limit, fmt::format("{}, line {}", tokenizer_model_path, line_no), "rank",
                        *raw, limit_why);
    model.add_token(tok::bytes_to_byte_level(*raw), static_cast<int32_t>(rank), tokenizer_model_path);
  }
  if (model.token_to_id.empty()) {
    throw FormatError("tokenizer", fmt::format("no tokens in tiktoken file ({})", tokenizer_model_path));
  }
  model.mode = tok::MergeMode::TokenRank;
  model.ignore_merges = true;
  model.token_rank.resize(model.id_to_token.size(), -1);
  for (size_t i = 0; i < model.token_rank.size(); ++i) {
    if (model.present[i]) model.token_rank[i] = static_cast<int32_t>(i);
  }

  tok::PreTokenizerStep split;
  split.kind = tok::PreTokenizerStep::Kind::Split;
  split.regex = std::make_shared<const tok::Regex>(kLlama3Pattern, "tiktoken Llama 3 pattern");
  split.behavior = tok::SplitBehavior::Isolated;
  tok::PreTokenizerStep byte_level;
  byte_level.kind = tok::PreTokenizerStep::Kind::ByteLevel;
  byte_level.add_prefix_space = false;
  byte_level.use_regex = false;
  d->pre_tokenizers = {split, byte_level};
  tok::DecoderStep dec;
  dec.kind = tok::DecoderStep::Kind::ByteLevel;
  d->decoders = {dec};

  const auto config = tok::parse_tokenizer_config(tok::read_json_file(tokenizer_config_path, "tokenizer_config.json"),
                                                  tokenizer_config_path);
  const uint64_t added_limit = model.id_to_token.size() + config.added_tokens.size() + tok::kIdSlack;
  for (const auto& a : config.added_tokens) {
    tok::check_id_bound(a.id, added_limit, tokenizer_config_path, "added_tokens_decoder", a.content,
                        fmt::format("{} ranks + {} added tokens + {}", model.id_to_token.size(),
                                    config.added_tokens.size(), tok::kIdSlack));
  }
  d->added = config.added_tokens;
  if (config.bos_token) d->bos = tok::find_token(*d, *config.bos_token);
  if (config.eos_token) d->eos = tok::find_token(*d, *config.eos_token);
  // Llama 3's tokenizer.json template puts <|begin_of_text|> first unless told otherwise.
  if (d->bos && config.add_bos_token.value_or(true)) d->prefix_ids.push_back(*d->bos);
  if (d->eos && config.add_eos_token.value_or(false)) d->suffix_ids.push_back(*d->eos);
  d->finalize();
  return Tokenizer(d);
}

}  // namespace mlxcel
