#include "tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "core/utf8.h"
#include "mlxcel/errors.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/utf8.h"

namespace mlxcel {

namespace tok {

void check_id_bound(int64_t id, uint64_t limit, const std::string& where, std::string_view field,
                    std::string_view token, std::string_view limit_why) {
  if (id >= 0 && static_cast<uint64_t>(id) < limit) return;
  throw FormatError("tokenizer", fmt::format("token id is {} ({}, field {}, token {:?}, value {}; ids must be in [0, "
                                             "{}): {})",
                                             id < 0 ? "negative" : "larger than the file justifies", where, field,
                                             utf8_lossy(token.substr(0, 80)), id, limit, limit_why));
}

namespace {

// Input bytes a vocabulary token stands for in the text the model sees: with a ByteLevel
// pre-tokenizer each code point of the token is one byte; otherwise its UTF-8 length (an upper
// bound: "▁" is 3 bytes for 1 input byte, "<0x41>" 6 for 1).
uint64_t token_span(const std::string& t, bool byte_level) {
  if (!byte_level || !is_valid_utf8(t)) return t.size();
  uint64_t n = 0;
  for (size_t pos = 0; pos < t.size();) {
    if (byte_from_codepoint(next_codepoint(t, pos)) < 0) return t.size();
    ++n;
  }
  return n;
}

// See Tokenizer::max_token_bytes(): 0 when text can vanish or fuse into one token without bound.
uint64_t compute_max_token_bytes(const TokenizerData& d) {
  const uint64_t shrink = normalizer_shrink(d.normalizers);
  if (shrink == 0) return 0;
  bool byte_level = false;
  for (const auto& p : d.pre_tokenizers) {
    if (p.kind == PreTokenizerStep::Kind::ByteLevel) {
      byte_level = true;
    } else if (p.kind != PreTokenizerStep::Kind::Metaspace && p.behavior == SplitBehavior::Removed) {
      return 0;  // Split / Whitespace / WhitespaceSplit drop what they remove
    }
  }
  const BpeModel& m = d.model;
  // Every character must become at least one token: a byte-level alphabet or complete byte
  // fallback (bytes that never occur in valid UTF-8 aside: encode repairs text first), else an
  // unknown token that is not fused over runs.
  auto impossible = [](int b) { return b == 0xC0 || b == 0xC1 || b >= 0xF5; };
  bool covered = m.continuing_subword_prefix.empty() && m.end_of_word_suffix.empty();
  uint64_t gap = 1;  // input bytes per covered byte
  if (covered && byte_level) {
    for (int b = 0; b < 256; ++b) {
      std::string c;
      append_utf8(c, byte_to_codepoint()[static_cast<size_t>(b)]);
      if (impossible(b) || m.token_to_id.count(c)) continue;
      // A missing lead byte is dropped, but its character keeps a continuation byte, which a
      // token covers: at most one dropped byte per covered one.
      if (b >= 0xC2) {
        gap = 2;
      } else {
        covered = false;
      }
    }
  } else if (covered) {
    covered = m.byte_fallback;
    for (int b = 0; b < 256; ++b) covered = covered && (impossible(b) || m.byte_token[static_cast<size_t>(b)] >= 0);
  }
  uint64_t in_normalized = 0;  // bytes of normalized text one token covers
  if (!covered) {
    if (m.unk_id < 0 || m.fuse_unk) return 0;
    in_normalized = 4;  // one character
  }
  for (size_t id = 0; id < m.id_to_token.size(); ++id) {
    if (m.present[id]) in_normalized = std::max(in_normalized, token_span(m.id_to_token[id], byte_level));
  }
  uint64_t in_input = 0;  // bytes of input text one added token covers
  for (const auto& a : d.added) {
    if (a.lstrip || a.rstrip) return 0;  // swallows a whitespace run of any length
  }
  for (const auto& a : d.added) {
    if (a.normalized && !d.normalizers.empty()) {
      in_normalized = std::max<uint64_t>(in_normalized, normalize(d.normalizers, a.content).size());
    } else {
      in_input = std::max<uint64_t>(in_input, a.content.size());
    }
  }
  uint64_t r;
  if (__builtin_mul_overflow(in_normalized, shrink, &r) || __builtin_mul_overflow(r, gap, &r)) return 0;
  return std::max<uint64_t>({in_input, r, 1});
}

}  // namespace

void TokenizerData::finalize() {
  model.finalize();
  id_to_token = model.id_to_token;
  present = model.present;
  // Loaders bound their ids with field names; this catches any added token they let through.
  const uint64_t limit = model.id_to_token.size() + added.size() + kIdSlack;
  for (const auto& a : added) {
    check_id_bound(a.id, limit, source, "added token id", a.content,
                   fmt::format("{} model ids + {} added tokens + {}", model.id_to_token.size(), added.size(),
                               kIdSlack));
    const auto uid = static_cast<size_t>(a.id);
    if (uid >= id_to_token.size()) {
      id_to_token.resize(uid + 1);
      present.resize(uid + 1, 0);
    }
    if (present[uid] && id_to_token[uid] != a.content) {
      throw FormatError("tokenizer", fmt::format("added token id is already a different vocabulary token ({}, id {}, "
                                                 "added {:?}, vocabulary {:?})",
                                                 source, a.id, utf8_lossy(a.content), utf8_lossy(id_to_token[uid])));
    }
    id_to_token[uid] = a.content;
    present[uid] = 1;
  }
  special.assign(id_to_token.size(), 0);
  for (const auto& a : added) {
    if (a.special) special[static_cast<size_t>(a.id)] = 1;
    if (a.normalized && !normalizers.empty()) {
      normalized_matcher.add(a, normalize(normalizers, a.content));
    } else {
      raw_matcher.add(a, a.content);
    }
  }
  auto check = [&](const std::vector<int32_t>& ids, const char* what) {
    for (int32_t id : ids) {
      if (id < 0 || static_cast<size_t>(id) >= present.size() || !present[static_cast<size_t>(id)]) {
        throw FormatError("tokenizer", fmt::format("post-processor {} token id is not in the vocabulary ({}, id {})",
                                                   what, source, id));
      }
    }
  };
  check(prefix_ids, "prefix");
  check(suffix_ids, "suffix");
  // Lossless: no normalizer that forgets text, and every character has a token (byte-level
  // vocabularies, or complete byte fallback, or no unknown token to fall back to).
  bool byte_level = false;
  for (const auto& p : pre_tokenizers) byte_level = byte_level || p.kind == PreTokenizerStep::Kind::ByteLevel;
  for (const auto& n : normalizers) {
    if (n.kind == NormalizerStep::Kind::Lowercase || n.kind == NormalizerStep::Kind::Strip) lossless = false;
  }
  if (!byte_level && model.unk_id >= 0) {
    if (!model.byte_fallback) lossless = false;
    for (int32_t t : model.byte_token) lossless = lossless && t >= 0;
  }
  max_token_bytes = compute_max_token_bytes(*this);
}

}  // namespace tok

using tok::TokenizerData;

Tokenizer::Tokenizer(std::shared_ptr<const TokenizerData> data) : d_(std::move(data)) {}

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  const TokenizerData& d = *d_;
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = utf8_lossy(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (options.add_special) ids.insert(ids.end(), d.prefix_ids.begin(), d.prefix_ids.end());
  std::vector<tok::Piece> pieces;
  for (const auto& seg : d.raw_matcher.split(text, options.parse_special)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    const std::string normalized =
        tok::normalize(d.normalizers, std::string(text.substr(seg.begin, seg.end - seg.begin)));
    for (const auto& seg2 : d.normalized_matcher.split(normalized, options.parse_special)) {
      if (seg2.id >= 0) {
        ids.push_back(seg2.id);
        continue;
      }
      pieces.clear();
      pieces.push_back({normalized.substr(seg2.begin, seg2.end - seg2.begin), seg.begin == 0 && seg2.begin == 0});
      tok::pre_tokenize(d.pre_tokenizers, pieces);
      for (const auto& p : pieces) d.model.encode_word(p.text, ids);
    }
  }
  if (options.add_special) ids.insert(ids.end(), d.suffix_ids.begin(), d.suffix_ids.end());
  return ids;
}

namespace {

bool known(const TokenizerData& d, int32_t id) {
  return id >= 0 && static_cast<size_t>(id) < d.present.size() && d.present[static_cast<size_t>(id)];
}

}  // namespace

std::string Tokenizer::decode(std::span<const int32_t> ids, const DecodeOptions& options) const {
  const TokenizerData& d = *d_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (!known(d, id)) continue;
    if (options.skip_special && d.special[static_cast<size_t>(id)]) continue;
    tokens.push_back(d.id_to_token[static_cast<size_t>(id)]);
  }
  return utf8_lossy(tok::run_decoders(d.decoders, std::move(tokens), tok::DecodeContext::Whole));
}

std::string Tokenizer::token_to_piece(int32_t id) const {
  if (!known(*d_, id)) return {};
  return tok::run_decoders(d_->decoders, {d_->id_to_token[static_cast<size_t>(id)]}, tok::DecodeContext::StreamNext);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  return known(*d_, id) ? d_->id_to_token[static_cast<size_t>(id)] : std::string();
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const auto& a : d_->added) {
    if (a.content == token) return a.id;
  }
  auto it = d_->model.token_to_id.find(token);
  if (it == d_->model.token_to_id.end()) return std::nullopt;
  return it->second;
}

StreamDecoder Tokenizer::stream_decoder(const DecodeOptions& options, std::span<const int32_t> context) const {
  return StreamDecoder(d_, options, context);
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(d_->id_to_token.size()); }
std::optional<int32_t> Tokenizer::bos_id() const { return d_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return d_->eos; }
std::optional<int32_t> Tokenizer::unk_id() const {
  return d_->model.unk_id >= 0 ? std::optional<int32_t>(d_->model.unk_id) : std::nullopt;
}
bool Tokenizer::adds_bos() const { return d_->bos && !d_->prefix_ids.empty() && d_->prefix_ids.front() == *d_->bos; }
bool Tokenizer::adds_eos() const { return d_->eos && !d_->suffix_ids.empty() && d_->suffix_ids.back() == *d_->eos; }
bool Tokenizer::is_special(int32_t id) const { return known(*d_, id) && d_->special[static_cast<size_t>(id)]; }
bool Tokenizer::is_lossless() const { return d_->lossless; }
uint64_t Tokenizer::max_token_bytes() const { return d_->max_token_bytes; }
uint64_t Tokenizer::min_token_count(uint64_t text_bytes) const {
  const uint64_t m = d_->max_token_bytes;
  return m == 0 ? 0 : text_bytes / m + (text_bytes % m != 0);
}
const std::string& Tokenizer::description() const { return d_->description; }

Tokenizer Tokenizer::from_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    const auto config = dir / "tokenizer_config.json";
    const std::string config_path = fs::exists(config, ec) ? config.string() : "";
    if (fs::exists(dir / "tokenizer.json", ec)) return from_hf_json((dir / "tokenizer.json").string(), config_path);
    if (fs::exists(dir / "tokenizer.model", ec) && !config_path.empty()) {
      return from_tiktoken((dir / "tokenizer.model").string(), config_path);
    }
    throw IoError("tokenizer", fmt::format("no tokenizer.json, nor tokenizer.model with tokenizer_config.json, in "
                                           "the directory ({})",
                                           path));
  }
  if (!fs::exists(path, ec)) throw IoError("tokenizer", fmt::format("no such file or directory ({})", path));
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".gguf") return from_gguf(path);
  // A single-file safetensors model: its tokenizer lives beside it (where the planner looks too).
  if (ext == ".safetensors") {
    const fs::path dir = fs::path(path).parent_path();
    return from_path(dir.empty() ? std::string(".") : dir.string());
  }
  if (ext == ".json") {
    const auto config = fs::path(path).parent_path() / "tokenizer_config.json";
    return from_hf_json(path, fs::exists(config, ec) ? config.string() : "");
  }
  if (ext == ".bin") return from_llama2c(path);
  if (ext == ".model") {
    const auto config = fs::path(path).parent_path() / "tokenizer_config.json";
    return from_tiktoken(path, config.string());
  }
  throw FormatError("tokenizer", fmt::format("cannot tell the tokenizer format from the file name ({}; expected a "
                                             "directory, .json, .model, .gguf or .bin)",
                                             path));
}

StreamDecoder::StreamDecoder(std::shared_ptr<const TokenizerData> data, DecodeOptions options,
                             std::span<const int32_t> context)
    : d_(std::move(data)), options_(options) {
  for (int32_t id : context) {
    if (known(*d_, id) && !(options_.skip_special && d_->special[static_cast<size_t>(id)])) first_ = false;
  }
}

std::string StreamDecoder::push(int32_t id) {
  const TokenizerData& d = *d_;
  if (!known(d, id)) return {};
  if (options_.skip_special && d.special[static_cast<size_t>(id)]) return {};
  pending_ += tok::run_decoders(d.decoders, {d.id_to_token[static_cast<size_t>(id)]},
                                first_ ? tok::DecodeContext::StreamFirst : tok::DecodeContext::StreamNext);
  first_ = false;
  const size_t n = utf8_emittable_prefix(pending_);
  std::string out = utf8_lossy(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8_lossy(pending_);
  pending_.clear();
  first_ = true;
  return out;
}

}  // namespace mlxcel
