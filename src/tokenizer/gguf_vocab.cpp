// Vocabularies embedded in GGUF files (llama.cpp's tokenizer.ggml.* keys):
//  - "llama": SentencePiece BPE (tokens, scores, token types); pieces merge by score, characters
//    without a piece fall back to <0xXX> byte tokens; a leading space is added (add_space_prefix).
//  - "gpt2": byte-level BPE (tokens + merges), with the pre-tokenizer named by tokenizer.ggml.pre
//    expressed as the equivalent tokenizer.json pre_tokenizer.
// Control tokens become special added tokens and user-defined tokens non-special ones, matched in
// the text before the model as llama.cpp does.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/utf8.h"
#include "io/gguf.h"
#include "mlxcel/errors.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/tokenizer.h"

namespace mlxcel {

namespace {

using nlohmann::json;

enum class GgufTokenType : int64_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

[[noreturn]] void fail(const std::string& msg) { throw FormatError("tokenizer", msg); }

const json* key(const json& md, const char* k) {
  auto it = md.find(k);
  return it == md.end() || it->is_null() ? nullptr : &*it;
}

const json& require_array(const json& md, const char* k, const std::string& src) {
  const json* v = key(md, k);
  if (!v) fail(fmt::format("missing GGUF key ({}, key {})", src, k));
  if (!v->is_array()) {
    fail(fmt::format("GGUF key is not a (fully read) array ({}, key {}, value {})", src, k,
                     v->dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 80)));
  }
  return *v;
}

std::string get_string(const json& md, const char* k, const std::string& src, const std::string& def) {
  const json* v = key(md, k);
  if (!v) return def;
  if (!v->is_string()) fail(fmt::format("GGUF key is not a string ({}, key {})", src, k));
  return v->get<std::string>();
}

std::optional<int32_t> get_id(const json& md, const char* k, const std::string& src, size_t n_tokens) {
  const json* v = key(md, k);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) fail(fmt::format("GGUF key is not an integer ({}, key {})", src, k));
  const int64_t id = v->get<int64_t>();
  // llama.cpp writes -1 (as uint32 0xFFFFFFFF) for "none".
  if (id < 0 || id == 0xFFFFFFFFLL) return std::nullopt;
  if (static_cast<uint64_t>(id) >= n_tokens) {
    fail(fmt::format("token id outside the vocabulary ({}, key {}, value {}, vocabulary {})", src, k, id, n_tokens));
  }
  return static_cast<int32_t>(id);
}

std::optional<bool> get_bool(const json& md, const char* k, const std::string& src) {
  const json* v = key(md, k);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) fail(fmt::format("GGUF key is not a bool ({}, key {})", src, k));
  return v->get<bool>();
}

constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// DeepSeek LLM: Latin/Greek/Cyrillic/... letters (an explicit list in the original tokenizer).
constexpr const char* kDeepseekLetters =
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
    "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
    "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
    "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4"
    "\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
    "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
    "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
    "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+";

json split(const std::string& regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}
json byte_level(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}
json digits(bool individual) { return {{"type", "Digits"}, {"individual_digits", individual}}; }
json sequence(std::vector<json> steps) { return {{"type", "Sequence"}, {"pretokenizers", steps}}; }

// tokenizer.ggml.pre -> the tokenizer.json pre_tokenizer of the model it was converted from.
json pre_tokenizer_for(const std::string& pre, const std::string& src) {
  static const std::map<std::string, std::string> aliases = {
      {"llama3", "llama3"},       {"llama-v3", "llama3"},  {"llama-bpe", "llama3"},  {"falcon3", "llama3"},
      {"smaug-bpe", "llama3"},    {"dbrx", "llama3"},      {"qwen2", "qwen2"},        {"stablelm2", "qwen2"},
      {"deepseek-r1-qwen", "qwen2"}, {"megrez", "qwen2"},  {"gpt-2", "gpt2"},         {"phi-2", "gpt2"},
      {"mpt", "gpt2"},            {"olmo", "gpt2"},        {"jais", "gpt2"},          {"default", "gpt2"},
      {"starcoder", "starcoder"}, {"refact", "starcoder"}, {"command-r", "starcoder"}, {"smollm", "starcoder"},
      {"codeshell", "starcoder"}, {"exaone", "starcoder"}, {"falcon", "falcon"},      {"deepseek-llm", "deepseek-llm"},
      {"deepseek-coder", "deepseek-coder"}};
  auto it = aliases.find(pre);
  if (it == aliases.end()) {
    fail(fmt::format("unsupported GGUF pre-tokenizer ({}, key tokenizer.ggml.pre, value {:?})", src, pre));
  }
  const std::string& kind = it->second;
  if (kind == "gpt2") return byte_level(true);
  if (kind == "llama3") return sequence({split(kLlama3Pattern), byte_level(false)});
  if (kind == "qwen2") return sequence({split(kQwen2Pattern), byte_level(false)});
  if (kind == "starcoder") return sequence({digits(true), byte_level(true)});
  if (kind == "falcon") {
    return sequence({{{"type", "Punctuation"}, {"behavior", "Contiguous"}}, byte_level(true), digits(false),
                     split("[0-9][0-9][0-9]")});
  }
  const std::string cjk = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
  if (kind == "deepseek-llm") {
    return sequence({split("[\r\n]"), split(kDeepseekLetters), split("\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+"),
                     split("\\s+$"), split(cjk), digits(false), byte_level(false)});
  }
  return sequence({split("[\r\n]"), split("\\s?\\p{L}+"), split("\\s?\\p{P}+"), split(cjk), digits(true),
                   byte_level(false)});
}

}  // namespace

Tokenizer Tokenizer::from_gguf_metadata(const json& md, const std::string& src) {
  try {
    const std::string kind = get_string(md, "tokenizer.ggml.model", src, "");
    if (kind.empty()) fail(fmt::format("GGUF file has no vocabulary ({}, key tokenizer.ggml.model missing)", src));
    if (kind != "llama" && kind != "gpt2") {
      fail(fmt::format("unsupported GGUF tokenizer model ({}, key tokenizer.ggml.model, value {:?}; supported: llama, "
                       "gpt2)",
                       src, kind));
    }
    const json& tokens = require_array(md, "tokenizer.ggml.tokens", src);
    const size_t n = tokens.size();
    if (n == 0 || n > static_cast<size_t>(INT32_MAX)) {
      fail(fmt::format("bad vocabulary size ({}, key tokenizer.ggml.tokens, length {})", src, n));
    }
    std::vector<int64_t> types(n, static_cast<int64_t>(GgufTokenType::Normal));
    if (key(md, "tokenizer.ggml.token_type")) {
      const json& t = require_array(md, "tokenizer.ggml.token_type", src);
      if (t.size() != n) {
        fail(fmt::format("token_type length differs from tokens ({}, {} vs {})", src, t.size(), n));
      }
      for (size_t i = 0; i < n; ++i) {
        if (!t[i].is_number_integer()) fail(fmt::format("token type is not an integer ({}, index {})", src, i));
        types[i] = t[i].get<int64_t>();
      }
    }

    auto d = std::make_shared<tok::TokenizerData>();
    d->source = src;
    tok::BpeModel& model = d->model;
    for (size_t i = 0; i < n; ++i) {
      if (!tokens[i].is_string()) fail(fmt::format("token is not a string ({}, tokenizer.ggml.tokens[{}])", src, i));
      model.add_token(tokens[i].get<std::string>(), static_cast<int32_t>(i), src, true);
      const auto type = static_cast<GgufTokenType>(types[i]);
      if (type == GgufTokenType::Control || type == GgufTokenType::UserDefined || type == GgufTokenType::Unknown) {
        tok::AddedToken a;
        a.id = static_cast<int32_t>(i);
        a.content = tokens[i].get<std::string>();
        a.special = type != GgufTokenType::UserDefined;
        d->added.push_back(std::move(a));
      }
    }
    d->bos = get_id(md, "tokenizer.ggml.bos_token_id", src, n);
    d->eos = get_id(md, "tokenizer.ggml.eos_token_id", src, n);
    if (auto unk = get_id(md, "tokenizer.ggml.unknown_token_id", src, n)) model.unk_id = *unk;

    bool add_bos = kind == "llama";
    if (kind == "llama") {
      const json& scores = require_array(md, "tokenizer.ggml.scores", src);
      if (scores.size() != n) fail(fmt::format("scores length differs from tokens ({}, {} vs {})", src, scores.size(), n));
      // Rank = position among the distinct scores, best first; equal scores share a rank so the
      // leftmost pair wins, as in llama.cpp's SentencePiece merge.
      std::vector<std::pair<double, int32_t>> order;
      for (size_t i = 0; i < n; ++i) {
        if (!scores[i].is_number()) fail(fmt::format("score is not a number ({}, index {})", src, i));
        const double score = scores[i].get<double>();
        // NaN is unordered: the sort below would break its comparator's contract (out of bounds).
        if (std::isnan(score)) {
          fail(fmt::format("score is NaN ({}, key tokenizer.ggml.scores, index {}, value nan)", src, i));
        }
        if (types[i] == static_cast<int64_t>(GgufTokenType::Normal)) order.emplace_back(score, i);
      }
      std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      model.mode = tok::MergeMode::TokenRank;
      model.token_rank.assign(n, -1);
      int32_t rank = -1;
      for (size_t k = 0; k < order.size(); ++k) {
        if (k == 0 || order[k].first != order[k - 1].first) ++rank;
        model.token_rank[order[k].second] = rank;
      }
      model.byte_fallback = true;
      const bool space_prefix = get_bool(md, "tokenizer.ggml.add_space_prefix", src).value_or(true);
      const std::string ws = "\xE2\x96\x81";
      if (space_prefix) d->normalizers.push_back({tok::NormalizerStep::Kind::Prepend, ws, "", nullptr});
      d->normalizers.push_back({tok::NormalizerStep::Kind::Replace, " ", ws, nullptr});
      tok::DecoderStep rep, fb, fuse, strip;
      rep.kind = tok::DecoderStep::Kind::Replace;
      rep.pattern = ws;
      rep.content = " ";
      fb.kind = tok::DecoderStep::Kind::ByteFallback;
      fuse.kind = tok::DecoderStep::Kind::Fuse;
      strip.kind = tok::DecoderStep::Kind::Strip;
      strip.strip_start = 1;
      d->decoders = {rep, fb, fuse};
      if (space_prefix) d->decoders.push_back(strip);
      d->description = "GGUF vocabulary (SentencePiece BPE, byte fallback)";
    } else {
      const std::string pre = get_string(md, "tokenizer.ggml.pre", src, "default");
      const json pre_json = pre_tokenizer_for(pre, src);
      d->pre_tokenizers = tok::parse_pre_tokenizer(pre_json, src + " tokenizer.ggml.pre=" + pre);
      if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3") {
        model.ignore_merges = true;
        add_bos = true;
      }
      const json& merges = require_array(md, "tokenizer.ggml.merges", src);
      model.mode = tok::MergeMode::MergeTable;
      model.merges.reserve(merges.size());
      for (size_t i = 0; i < merges.size(); ++i) {
        if (!merges[i].is_string()) fail(fmt::format("merge is not a string ({}, tokenizer.ggml.merges[{}])", src, i));
        const std::string& s = merges[i].get_ref<const std::string&>();
        const size_t sp = s.find(' ', 1);  // a token may itself be a space
        if (sp == std::string::npos) {
          fail(fmt::format("merge is not two tokens separated by a space ({}, tokenizer.ggml.merges[{}], value {:?})",
                           src, i, utf8_lossy(s)));
        }
        model.add_merge(std::string_view(s).substr(0, sp), std::string_view(s).substr(sp + 1),
                        static_cast<int32_t>(i), src);
      }
      tok::DecoderStep dec;
      dec.kind = tok::DecoderStep::Kind::ByteLevel;
      d->decoders = {dec};
      d->description = fmt::format("GGUF vocabulary (byte-level BPE, pre-tokenizer {})", pre);
    }
    add_bos = get_bool(md, "tokenizer.ggml.add_bos_token", src).value_or(add_bos);
    const bool add_eos = get_bool(md, "tokenizer.ggml.add_eos_token", src).value_or(false);
    if (add_bos && d->bos) d->prefix_ids.push_back(*d->bos);
    if (add_eos && d->eos) d->suffix_ids.push_back(*d->eos);
    d->finalize();
    return Tokenizer(d);
  } catch (const json::exception& e) {
    fail(fmt::format("unexpected GGUF metadata structure ({}, {})", src, e.what()));
  }
}

Tokenizer Tokenizer::from_gguf(const std::string& gguf_path) {
  const GgufFile f = read_gguf(gguf_path);
  return from_gguf_metadata(f.metadata, gguf_path);
}

}  // namespace mlxcel
