#include "tokenizer/hf_json.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

#include "core/json_input.h"
#include "io/file_util.h"
#include "core/utf8.h"
#include "mlxcel/errors.h"
#include "tokenizer/tokenizer.h"

namespace mlxcel::tok {

using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& msg) { throw FormatError("tokenizer", msg); }

// A value for a message: short, whatever the size of the (hostile) value.
std::string brief(const json& v) {
  std::string s = v.is_structured() && v.size() > 16 ? fmt::format("<{} of {} elements>", v.type_name(), v.size())
                                                     : v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 120) s = utf8_lossy(std::string_view(s).substr(0, 120)) + "...";
  return s;
}

const json* field(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

bool get_bool(const json& j, const char* key, bool def, const std::string& where) {
  const json* v = field(j, key);
  if (!v) return def;
  if (!v->is_boolean()) fail(fmt::format("expected a boolean ({}, field {}, value {})", where, key, brief(*v)));
  return v->get<bool>();
}

std::string get_string(const json& j, const char* key, const std::string& where, const char* def = nullptr) {
  const json* v = field(j, key);
  if (!v) {
    if (def) return def;
    fail(fmt::format("missing field ({}, field {})", where, key));
  }
  if (!v->is_string()) fail(fmt::format("expected a string ({}, field {}, value {})", where, key, brief(*v)));
  return v->get<std::string>();
}

uint64_t get_uint(const json& j, const char* key, uint64_t def, const std::string& where) {
  const json* v = field(j, key);
  if (!v) return def;
  if (!v->is_number_unsigned()) {
    fail(fmt::format("expected a non-negative integer ({}, field {}, value {})", where, key, brief(*v)));
  }
  return v->get<uint64_t>();
}

const json& get_array(const json& j, const char* key, const std::string& where) {
  const json* v = field(j, key);
  if (!v || !v->is_array()) fail(fmt::format("expected an array ({}, field {})", where, key));
  return *v;
}

std::string type_of(const json& j, const std::string& where) {
  if (!j.is_object()) fail(fmt::format("expected an object ({}, value {})", where, brief(j)));
  return get_string(j, "type", where);
}

// {"String": "x"} or {"Regex": "x"}: a literal or a compiled regex.
void parse_pattern(const json& j, const std::string& where, std::string* literal, std::shared_ptr<const Regex>* regex) {
  const json* p = field(j, "pattern");
  if (!p || !p->is_object()) fail(fmt::format("missing pattern object ({}, field pattern)", where));
  if (const json* s = field(*p, "String")) {
    if (!s->is_string()) fail(fmt::format("expected a string ({}, field pattern.String)", where));
    *literal = s->get<std::string>();
  } else if (const json* r = field(*p, "Regex")) {
    if (!r->is_string()) fail(fmt::format("expected a string ({}, field pattern.Regex)", where));
    *regex = std::make_shared<const Regex>(r->get<std::string>(), where + ", pattern.Regex");
  } else {
    fail(fmt::format("pattern is neither String nor Regex ({}, value {})", where, brief(*p)));
  }
}

SplitBehavior parse_behavior(const json& j, const std::string& where, SplitBehavior def) {
  const json* b = field(j, "behavior");
  if (!b) return def;
  const std::string s = b->is_string() ? b->get<std::string>() : brief(*b);
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  fail(fmt::format("unknown split behavior ({}, field behavior, value {})", where, s));
}

PrependScheme parse_prepend_scheme(const json& j, const std::string& where) {
  if (const json* p = field(j, "prepend_scheme")) {
    const std::string s = p->is_string() ? p->get<std::string>() : brief(*p);
    if (s == "always") return PrependScheme::Always;
    if (s == "first") return PrependScheme::First;
    if (s == "never") return PrependScheme::Never;
    fail(fmt::format("unknown prepend_scheme ({}, value {})", where, s));
  }
  return get_bool(j, "add_prefix_space", true, where) ? PrependScheme::Always : PrependScheme::Never;
}

std::string one_char(const json& j, const char* key, const std::string& where, const char* def) {
  std::string s = get_string(j, key, where, def);
  size_t pos = 0;
  if (s.empty() || !is_valid_utf8(s) || (next_codepoint(s, pos), pos != s.size())) {
    fail(fmt::format("expected a single character ({}, field {}, value {:?})", where, key, utf8_lossy(s)));
  }
  return s;
}

}  // namespace

std::vector<NormalizerStep> parse_normalizer(const json& j, const std::string& where) {
  std::vector<NormalizerStep> out;
  if (j.is_null()) return out;
  const std::string type = type_of(j, where);
  const std::string w = where + " " + type;
  NormalizerStep st;
  if (type == "Sequence") {
    for (const auto& n : get_array(j, "normalizers", w)) {
      auto sub = parse_normalizer(n, w);
      out.insert(out.end(), sub.begin(), sub.end());
    }
    return out;
  } else if (type == "Prepend") {
    st.kind = NormalizerStep::Kind::Prepend;
    st.text = get_string(j, "prepend", w);
  } else if (type == "Replace") {
    st.kind = NormalizerStep::Kind::Replace;
    parse_pattern(j, w, &st.text, &st.regex);
    st.content = get_string(j, "content", w);
  } else if (type == "Lowercase") {
    st.kind = NormalizerStep::Kind::Lowercase;
  } else if (type == "Strip") {
    st.kind = NormalizerStep::Kind::Strip;
    st.strip_left = get_bool(j, "strip_left", true, w);
    st.strip_right = get_bool(j, "strip_right", true, w);
  } else if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
    // Unicode normalization tables are not carried; text already in that form (the usual case,
    // e.g. NFC input for NFC) is unaffected. See docs/tokenizers.md.
    spdlog::warn("[tokenizer] {} normalizer is applied as identity ({})", type, where);
    st.kind = NormalizerStep::Kind::Identity;
  } else {
    fail(fmt::format("unsupported normalizer type ({}, field type, value {:?})", where, type));
  }
  out.push_back(std::move(st));
  return out;
}

std::vector<PreTokenizerStep> parse_pre_tokenizer(const json& j, const std::string& where) {
  std::vector<PreTokenizerStep> out;
  if (j.is_null()) return out;
  const std::string type = type_of(j, where);
  const std::string w = where + " " + type;
  PreTokenizerStep st;
  if (type == "Sequence") {
    for (const auto& p : get_array(j, "pretokenizers", w)) {
      auto sub = parse_pre_tokenizer(p, w);
      out.insert(out.end(), sub.begin(), sub.end());
    }
    return out;
  } else if (type == "ByteLevel") {
    st.kind = PreTokenizerStep::Kind::ByteLevel;
    st.add_prefix_space = get_bool(j, "add_prefix_space", true, w);
    st.use_regex = get_bool(j, "use_regex", true, w);
  } else if (type == "Split") {
    st.kind = PreTokenizerStep::Kind::Split;
    parse_pattern(j, w, &st.literal, &st.regex);
    st.behavior = parse_behavior(j, w, SplitBehavior::Isolated);
    st.invert = get_bool(j, "invert", false, w);
  } else if (type == "Digits") {
    st.kind = PreTokenizerStep::Kind::Digits;
    st.regex = std::make_shared<const Regex>(R"(\p{N})", w);
    st.behavior = get_bool(j, "individual_digits", false, w) ? SplitBehavior::Isolated : SplitBehavior::Contiguous;
  } else if (type == "Punctuation") {
    // Rust's is_ascii_punctuation or Unicode category P.
    st.kind = PreTokenizerStep::Kind::Punctuation;
    st.regex = std::make_shared<const Regex>(R"([\p{P}!-/:-@\[-`{-~])", w);
    st.behavior = parse_behavior(j, w, SplitBehavior::Isolated);
  } else if (type == "Metaspace") {
    st.kind = PreTokenizerStep::Kind::Metaspace;
    st.replacement = one_char(j, "replacement", w, "\xE2\x96\x81");
    st.prepend_scheme = parse_prepend_scheme(j, w);
    st.split = get_bool(j, "split", true, w);
  } else if (type == "Whitespace") {
    st.kind = PreTokenizerStep::Kind::Whitespace;
    st.regex = std::make_shared<const Regex>(R"(\w+|[^\w\s]+)", w);
    st.behavior = SplitBehavior::Removed;
    st.invert = true;
  } else if (type == "WhitespaceSplit") {
    st.kind = PreTokenizerStep::Kind::WhitespaceSplit;
    st.regex = std::make_shared<const Regex>(R"(\s)", w);
    st.behavior = SplitBehavior::Removed;
  } else {
    fail(fmt::format("unsupported pre_tokenizer type ({}, field type, value {:?})", where, type));
  }
  out.push_back(std::move(st));
  return out;
}

std::vector<DecoderStep> parse_decoder(const json& j, const std::string& where) {
  std::vector<DecoderStep> out;
  if (j.is_null()) return out;
  const std::string type = type_of(j, where);
  const std::string w = where + " " + type;
  DecoderStep st;
  if (type == "Sequence") {
    for (const auto& d : get_array(j, "decoders", w)) {
      auto sub = parse_decoder(d, w);
      out.insert(out.end(), sub.begin(), sub.end());
    }
    return out;
  } else if (type == "ByteLevel") {
    st.kind = DecoderStep::Kind::ByteLevel;
  } else if (type == "ByteFallback") {
    st.kind = DecoderStep::Kind::ByteFallback;
  } else if (type == "Fuse") {
    st.kind = DecoderStep::Kind::Fuse;
  } else if (type == "Strip") {
    st.kind = DecoderStep::Kind::Strip;
    st.strip_content = one_char(j, "content", w, " ");
    st.strip_start = get_uint(j, "start", 0, w);
    st.strip_stop = get_uint(j, "stop", 0, w);
  } else if (type == "Replace") {
    st.kind = DecoderStep::Kind::Replace;
    parse_pattern(j, w, &st.pattern, &st.regex);
    st.content = get_string(j, "content", w);
  } else if (type == "Metaspace") {
    st.kind = DecoderStep::Kind::Metaspace;
    st.replacement = one_char(j, "replacement", w, "\xE2\x96\x81");
    st.prepend_scheme = parse_prepend_scheme(j, w);
  } else {
    fail(fmt::format("unsupported decoder type ({}, field type, value {:?})", where, type));
  }
  out.push_back(std::move(st));
  return out;
}

nlohmann::json parse_json_text(const std::string& text, const std::string& where) {
  std::string why;
  std::optional<json> j = try_parse_json<json>(text, &why);
  if (!j) fail(fmt::format("invalid JSON ({}, {})", where, why));
  return std::move(*j);
}

std::string read_tokenizer_file(const std::string& path, std::string_view what) {
  return io::read_small_file(path, kMaxTokenizerFileBytes, "tokenizer", what);
}

nlohmann::json read_json_file(const std::string& path, const char* what) {
  return parse_json_text(read_tokenizer_file(path, what), path);
}

namespace {

AddedToken parse_added_token(const json& j, int32_t id, const std::string& where) {
  AddedToken a;
  a.id = id;
  a.content = get_string(j, "content", where);
  a.special = get_bool(j, "special", false, where);
  a.lstrip = get_bool(j, "lstrip", false, where);
  a.rstrip = get_bool(j, "rstrip", false, where);
  a.single_word = get_bool(j, "single_word", false, where);
  a.normalized = get_bool(j, "normalized", !a.special, where);
  return a;
}

int32_t to_id(const json& v, const std::string& where, const char* key) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
    fail(fmt::format("token id is not an integer in [0, 2^31) ({}, field {}, value {})", where, key, brief(v)));
  }
  return static_cast<int32_t>(v.get<int64_t>());
}

std::optional<std::string> token_text(const json& j, const char* key, const std::string& where) {
  const json* v = field(j, key);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_object()) return get_string(*v, "content", where + " " + key);
  fail(fmt::format("expected a string or an object with content ({}, field {})", where, key));
}

// A legacy "a b" merge whose line holds several spaces: accepted when exactly one split names
// two vocabulary tokens whose concatenation is a token. Each split hashes the whole line, so a
// line is only tried when its concatenation could be a token (no longer than the longest one):
// the work per line is then at most (longest token)^2, and `budget` (proportional to the file)
// bounds the sum over all lines.
bool add_spaced_merge(BpeModel& model, const std::string& s, int32_t rank, const std::string& where,
                      size_t longest_token, uint64_t& budget) {
  if (s.size() > longest_token + 1) return false;
  size_t found = std::string::npos;
  for (size_t sp = s.find(' '); sp != std::string::npos; sp = s.find(' ', sp + 1)) {
    if (budget < s.size()) {
      fail(fmt::format("merges with several spaces need more work than the file justifies ({}, merge #{}, value "
                       "{:?}; write merges as [left, right] pairs)",
                       where, rank, utf8_lossy(s.substr(0, 80))));
    }
    budget -= s.size();
    const std::string_view a = std::string_view(s).substr(0, sp), b = std::string_view(s).substr(sp + 1);
    if (model.token_to_id.count(a) && model.token_to_id.count(b) &&
        model.token_to_id.count(std::string(a) + std::string(b))) {
      if (found != std::string::npos) return false;
      found = sp;
    }
  }
  if (found == std::string::npos) return false;
  model.add_merge(std::string_view(s).substr(0, found), std::string_view(s).substr(found + 1), rank, where);
  return true;
}

// `id_limit`: ids must be below it (vocabulary entries + added tokens + kIdSlack).
void parse_bpe_model(const json& m, const std::string& where, BpeModel& model, uint64_t id_limit,
                     const std::string& limit_why) {
  const json* vocab = field(m, "vocab");
  if (!vocab || !vocab->is_object()) fail(fmt::format("model has no vocab object ({}, field model.vocab)", where));
  size_t longest_token = 0;
  for (const auto& [text, id] : vocab->items()) {
    const int32_t i = to_id(id, where, "model.vocab");
    check_id_bound(i, id_limit, where, "model.vocab", text, limit_why);
    model.add_token(text, i, where);
    longest_token = std::max(longest_token, text.size());
  }
  model.continuing_subword_prefix = get_string(m, "continuing_subword_prefix", where, "");
  model.end_of_word_suffix = get_string(m, "end_of_word_suffix", where, "");
  model.byte_fallback = get_bool(m, "byte_fallback", false, where);
  model.fuse_unk = get_bool(m, "fuse_unk", false, where);
  model.ignore_merges = get_bool(m, "ignore_merges", false, where);
  if (const json* d = field(m, "dropout"); d && !(d->is_number() && d->get<double>() == 0.0)) {
    spdlog::warn("[tokenizer] BPE dropout is ignored: encoding is deterministic ({}, dropout {})", where, brief(*d));
  }
  if (const json* unk = field(m, "unk_token")) {
    if (!unk->is_string()) fail(fmt::format("expected a string ({}, field model.unk_token)", where));
    auto it = model.token_to_id.find(unk->get<std::string>());
    if (it == model.token_to_id.end()) {
      fail(fmt::format("unk_token is not in the vocabulary ({}, field model.unk_token, value {:?})", where,
                       unk->get<std::string>()));
    }
    model.unk_id = it->second;
  }
  model.mode = MergeMode::MergeTable;
  const json* merges = field(m, "merges");
  if (!merges) return;
  if (!merges->is_array()) fail(fmt::format("expected an array ({}, field model.merges)", where));
  model.merges.reserve(merges->size());
  if (merges->size() > static_cast<size_t>(INT32_MAX)) {
    fail(fmt::format("too many merges ({}, field model.merges, count {})", where, merges->size()));
  }
  // Spaced merges may hash a line once per space: allow 1 MiB plus 64 bytes hashed per byte of
  // merge lines read so far.
  uint64_t spaced_budget = uint64_t{1} << 20;
  int32_t rank = 0;
  for (const auto& e : *merges) {
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      spaced_budget += 64 * uint64_t{s.size()};
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) {
        fail(fmt::format("merge is not two tokens separated by a space ({}, merge #{}, value {:?})", where, rank,
                         utf8_lossy(s)));
      }
      if (s.find(' ', sp + 1) == std::string::npos) {
        model.add_merge(std::string_view(s).substr(0, sp), std::string_view(s).substr(sp + 1), rank, where);
      } else if (!add_spaced_merge(model, s, rank, where, longest_token, spaced_budget)) {
        // Tokens with raw spaces (some SentencePiece conversions) make "a b" ambiguous; such
        // merges are unreachable when a normalizer turns spaces into "▁", so they are skipped.
        spdlog::debug("[tokenizer] skipping ambiguous merge {:?} #{} ({})", utf8_lossy(s), rank, where);
      }
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      model.add_merge(e[0].get_ref<const std::string&>(), e[1].get_ref<const std::string&>(), rank, where);
    } else {
      fail(fmt::format("merge is neither \"a b\" nor [a, b] ({}, merge #{}, value {})", where, rank,
                       brief(e)));
    }
    ++rank;
  }
}

void parse_post_processor(const json& j, const std::string& where, TokenizerData& d) {
  if (j.is_null()) return;
  const std::string type = type_of(j, where);
  const std::string w = where + " " + type;
  if (type == "Sequence") {
    for (const auto& p : get_array(j, "processors", w)) parse_post_processor(p, w, d);
  } else if (type == "ByteLevel") {
    // Offsets only.
  } else if (type == "TemplateProcessing") {
    const json* specials = field(j, "special_tokens");
    bool seen_sequence = false;
    for (const auto& item : get_array(j, "single", w)) {
      if (field(item, "Sequence")) {
        seen_sequence = true;
        continue;
      }
      const json* sp = field(item, "SpecialToken");
      if (!sp) fail(fmt::format("template item is neither Sequence nor SpecialToken ({}, item {})", w, brief(item)));
      const std::string name = get_string(*sp, "id", w);
      const json* entry = specials ? field(*specials, name.c_str()) : nullptr;
      if (!entry) fail(fmt::format("template names an undefined special token ({}, token {:?})", w, name));
      for (const auto& id : get_array(*entry, "ids", w + " " + name)) {
        (seen_sequence ? d.suffix_ids : d.prefix_ids).push_back(to_id(id, w, "special_tokens.ids"));
      }
    }
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    auto id_of = [&](const char* key) {
      const json* v = field(j, key);
      if (!v || !v->is_array() || v->size() != 2) fail(fmt::format("expected [token, id] ({}, field {})", w, key));
      return to_id((*v)[1], w, key);
    };
    d.prefix_ids.push_back(id_of("cls"));
    d.suffix_ids.push_back(id_of("sep"));
  } else {
    fail(fmt::format("unsupported post_processor type ({}, field type, value {:?})", where, type));
  }
}

}  // namespace

TokenizerConfig parse_tokenizer_config(const json& j, const std::string& where) {
  if (!j.is_object()) fail(fmt::format("tokenizer config is not a JSON object ({})", where));
  TokenizerConfig c;
  c.source = where;
  c.bos_token = token_text(j, "bos_token", where);
  c.eos_token = token_text(j, "eos_token", where);
  c.unk_token = token_text(j, "unk_token", where);
  if (field(j, "add_bos_token")) c.add_bos_token = get_bool(j, "add_bos_token", false, where);
  if (field(j, "add_eos_token")) c.add_eos_token = get_bool(j, "add_eos_token", false, where);
  if (const json* atd = field(j, "added_tokens_decoder")) {
    if (!atd->is_object()) fail(fmt::format("expected an object ({}, field added_tokens_decoder)", where));
    for (const auto& [key, value] : atd->items()) {
      int64_t id = -1;
      try {
        size_t used = 0;
        id = std::stoll(key, &used);
        if (used != key.size()) id = -1;
      } catch (const std::exception&) {
        id = -1;
      }
      if (id < 0 || id > INT32_MAX) {
        fail(fmt::format("added_tokens_decoder key is not a token id ({}, key {:?})", where, key));
      }
      c.added_tokens.push_back(parse_added_token(value, static_cast<int32_t>(id), where + " added_tokens_decoder"));
    }
  }
  return c;
}

std::optional<int32_t> find_token(const TokenizerData& d, const std::string& text) {
  for (const auto& a : d.added) {
    if (a.content == text) return a.id;
  }
  auto it = d.model.token_to_id.find(text);
  if (it != d.model.token_to_id.end()) return it->second;
  return std::nullopt;
}

std::shared_ptr<TokenizerData> load_hf_tokenizer(const json& tj, const std::string& where,
                                                 const TokenizerConfig* config) {
  try {
    if (!tj.is_object()) fail(fmt::format("tokenizer.json is not a JSON object ({})", where));
    auto d = std::make_shared<TokenizerData>();
    d->source = where;
    const json* m = field(tj, "model");
    if (!m || !m->is_object()) fail(fmt::format("missing model object ({}, field model)", where));
    // Older files leave out "type" when the model is BPE.
    const std::string type = field(*m, "type") ? get_string(*m, "type", where) : (field(*m, "merges") ? "BPE" : "");
    if (type != "BPE") {
      fail(fmt::format("unsupported model type ({}, field model.type, value {:?}; only BPE is supported)", where,
                       type));
    }
    // Every id must be below the number of tokens the files list, plus kIdSlack for gaps.
    const json* vocab = field(*m, "vocab");
    const json* added = field(tj, "added_tokens");
    if (added && !added->is_array()) fail(fmt::format("expected an array ({}, field added_tokens)", where));
    const uint64_t n_vocab = vocab && vocab->is_object() ? vocab->size() : 0;
    const uint64_t n_added = added ? added->size() : 0;
    const uint64_t n_config = config ? config->added_tokens.size() : 0;
    const uint64_t id_limit = n_vocab + n_added + n_config + kIdSlack;
    const std::string limit_why = fmt::format("{} vocabulary entries + {} added tokens + {} added_tokens_decoder "
                                              "entries + {}",
                                              n_vocab, n_added, n_config, kIdSlack);
    parse_bpe_model(*m, where, d->model, id_limit, limit_why);
    if (added) {
      for (const auto& a : *added) {
        const json* id = field(a, "id");
        if (!id) fail(fmt::format("added token without id ({}, value {})", where, brief(a)));
        AddedToken t = parse_added_token(a, to_id(*id, where, "added_tokens.id"), where + " added_tokens");
        check_id_bound(t.id, id_limit, where, "added_tokens.id", t.content, limit_why);
        d->added.push_back(std::move(t));
      }
    }
    if (config) {
      std::unordered_set<int32_t> have;
      for (const auto& b : d->added) have.insert(b.id);
      for (const auto& a : config->added_tokens) {
        check_id_bound(a.id, id_limit, config->source, "added_tokens_decoder", a.content, limit_why);
        if (have.insert(a.id).second) d->added.push_back(a);
      }
    }
    const json null_value;
    auto get = [&](const char* key) -> const json& {
      const json* v = field(tj, key);
      return v ? *v : null_value;
    };
    d->normalizers = parse_normalizer(get("normalizer"), where + " normalizer");
    d->pre_tokenizers = parse_pre_tokenizer(get("pre_tokenizer"), where + " pre_tokenizer");
    d->decoders = parse_decoder(get("decoder"), where + " decoder");
    // Text grows by at most kMaxTextGrowth through each chain (real ones: "▁" for " " is 3x).
    if (const uint64_t g = normalizer_growth(d->normalizers); g > kMaxTextGrowth) {
      fail(fmt::format("normalizer can lengthen text more than {}-fold ({}, field normalizer, growth {} bytes per "
                       "byte)",
                       kMaxTextGrowth, where, g));
    }
    if (const uint64_t g = decoder_growth(d->decoders); g > kMaxTextGrowth) {
      fail(fmt::format("decoder can lengthen text more than {}-fold ({}, field decoder, growth {} bytes per byte)",
                       kMaxTextGrowth, where, g));
    }
    parse_post_processor(get("post_processor"), where + " post_processor", *d);

    bool byte_level = false;
    for (const auto& p : d->pre_tokenizers) byte_level = byte_level || p.kind == PreTokenizerStep::Kind::ByteLevel;
    d->description = fmt::format("tokenizer.json (BPE{})", byte_level ? ", byte-level" : d->model.byte_fallback
                                                                                           ? ", byte fallback"
                                                                                           : "");
    if (config) {
      if (config->bos_token) d->bos = find_token(*d, *config->bos_token);
      if (config->eos_token) d->eos = find_token(*d, *config->eos_token);
    }
    if (!d->bos && !d->prefix_ids.empty()) d->bos = d->prefix_ids.front();
    d->finalize();
    return d;
  } catch (const json::exception& e) {
    fail(fmt::format("unexpected JSON structure ({}, {})", where, e.what()));
  }
}

}  // namespace mlxcel::tok

namespace mlxcel {

Tokenizer Tokenizer::from_hf_json(const std::string& tokenizer_json_path, const std::string& tokenizer_config_path) {
  const nlohmann::json tj = tok::read_json_file(tokenizer_json_path, "tokenizer.json");
  std::optional<tok::TokenizerConfig> config;
  if (!tokenizer_config_path.empty()) {
    config = tok::parse_tokenizer_config(tok::read_json_file(tokenizer_config_path, "tokenizer_config.json"),
                                         tokenizer_config_path);
  }
  return Tokenizer(tok::load_hf_tokenizer(tj, tokenizer_json_path, config ? &*config : nullptr));
}

Tokenizer Tokenizer::from_hf_json_text(const std::string& tokenizer_json, const std::string& tokenizer_config_json,
                                       const std::string& source) {
  const nlohmann::json tj = tok::parse_json_text(tokenizer_json, source);
  std::optional<tok::TokenizerConfig> config;
  if (!tokenizer_config_json.empty()) {
    config = tok::parse_tokenizer_config(tok::parse_json_text(tokenizer_config_json, source + " config"),
                                         source + " config");
  }
  return Tokenizer(tok::load_hf_tokenizer(tj, source, config ? &*config : nullptr));
}

}  // namespace mlxcel
