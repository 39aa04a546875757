#include "tokenizer/pipeline.h"

#include <locale.h>

#include <algorithm>
#include <cwctype>

#include "core/utf8.h"
#include "tokenizer/utf8.h"

namespace mlxcel::tok {

namespace {

void replace_all(std::string& s, std::string_view pattern, std::string_view content) {
  if (pattern.empty()) return;
  std::string out;
  size_t last = 0;
  for (size_t pos = s.find(pattern); pos != std::string::npos; pos = s.find(pattern, last)) {
    out.append(s, last, pos - last);
    out.append(content);
    last = pos + pattern.size();
  }
  if (last == 0) return;
  out.append(s, last, std::string::npos);
  s = std::move(out);
}

void replace_regex(std::string& s, const Regex& re, std::string_view content) {
  std::vector<std::pair<size_t, size_t>> m;
  re.find_all(s, m);
  if (m.empty()) return;
  std::string out;
  size_t last = 0;
  for (auto [b, e] : m) {
    out.append(s, last, b - last);
    out.append(content);
    last = e;
  }
  out.append(s, last, std::string::npos);
  s = std::move(out);
}

// Unicode lower-casing through glibc's C.UTF-8 tables (one code point to one code point, like
// towlower; Rust's multi-character special cases such as U+0130 are not reproduced).
std::string lowercase(std::string_view s) {
  static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp = next_codepoint(s, pos);
    if (cp < 0x80) {
      if (cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
    } else if (loc) {
      cp = static_cast<uint32_t>(towlower_l(static_cast<wint_t>(cp), loc));
    }
    append_utf8(out, cp);
  }
  return out;
}

std::string strip_whitespace(const std::string& s, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e) {
      size_t p = b;
      if (!is_unicode_whitespace(next_codepoint(s, p))) break;
      b = p;
    }
  }
  if (right) {
    while (e > b) {
      size_t start = e - 1;
      while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
      size_t p = start;
      if (!is_unicode_whitespace(next_codepoint(s, p))) break;
      e = start;
    }
  }
  return s.substr(b, e - b);
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

std::string normalize(const std::vector<NormalizerStep>& steps, std::string s) {
  for (const auto& st : steps) {
    switch (st.kind) {
      case NormalizerStep::Kind::Prepend:
        if (!s.empty()) s.insert(0, st.text);
        break;
      case NormalizerStep::Kind::Replace:
        if (st.regex) {
          replace_regex(s, *st.regex, st.content);
        } else {
          replace_all(s, st.text, st.content);
        }
        break;
      case NormalizerStep::Kind::Lowercase:
        s = lowercase(s);
        break;
      case NormalizerStep::Kind::Strip:
        s = strip_whitespace(s, st.strip_left, st.strip_right);
        break;
      case NormalizerStep::Kind::Identity:
        break;
    }
  }
  return s;
}

namespace {

uint64_t sat_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

uint64_t sat_add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

// out <= a * n + b for a segment of n bytes; a step multiplies by `factor` and adds `extra`.
struct Affine {
  uint64_t a = 1, b = 0;
  void apply(uint64_t factor, uint64_t extra) {
    a = sat_mul(a, factor);
    b = sat_add(sat_mul(b, factor), extra);
  }
  uint64_t per_byte() const { return sat_add(a, b); }  // n >= 1
};

// A Replace of matches by `content`: a literal pattern of p bytes multiplies lengths by at most
// ceil(content / p); a regex may match the empty string before every character and at the end.
void apply_replace(Affine& f, const std::shared_ptr<const Regex>& regex, size_t pattern_bytes, size_t content_bytes) {
  if (regex) {
    f.apply(sat_add(1, content_bytes), content_bytes);
  } else if (pattern_bytes > 0) {
    f.apply(std::max<uint64_t>(1, ceil_div(content_bytes, pattern_bytes)), 0);
  }
}

}  // namespace

uint64_t normalizer_growth(const std::vector<NormalizerStep>& steps) {
  Affine f;
  for (const auto& st : steps) {
    switch (st.kind) {
      case NormalizerStep::Kind::Prepend:
        f.apply(1, st.text.size());
        break;
      case NormalizerStep::Kind::Replace:
        apply_replace(f, st.regex, st.text.size(), st.content.size());
        break;
      case NormalizerStep::Kind::Lowercase:
        f.apply(2, 0);  // at most 3/2: U+023A (2 bytes) -> U+2C65 (3 bytes)
        break;
      case NormalizerStep::Kind::Strip:
      case NormalizerStep::Kind::Identity:
        break;
    }
  }
  return f.per_byte();
}

uint64_t normalizer_shrink(const std::vector<NormalizerStep>& steps) {
  uint64_t k = 1;
  for (const auto& st : steps) {
    switch (st.kind) {
      case NormalizerStep::Kind::Prepend:
      case NormalizerStep::Kind::Identity:
        break;
      case NormalizerStep::Kind::Replace:
        if (st.regex || st.content.empty()) return 0;
        if (st.content.size() < st.text.size()) k = sat_mul(k, ceil_div(st.text.size(), st.content.size()));
        break;
      case NormalizerStep::Kind::Lowercase:
        k = sat_mul(k, 3);  // U+212A KELVIN SIGN (3 bytes) -> 'k'
        break;
      case NormalizerStep::Kind::Strip:
        return 0;
    }
  }
  return k;
}

uint64_t decoder_growth(const std::vector<DecoderStep>& steps) {
  Affine f;
  for (const auto& st : steps) {
    if (st.kind == DecoderStep::Kind::Replace) apply_replace(f, st.regex, st.pattern.size(), st.content.size());
  }
  return f.per_byte();
}

std::vector<std::pair<size_t, size_t>> split_by_matches(size_t size,
                                                         const std::vector<std::pair<size_t, size_t>>& matches,
                                                         SplitBehavior behavior, bool invert) {
  struct Seg {
    size_t b, e;
    bool is_match;
  };
  std::vector<Seg> segs;
  segs.reserve(matches.size() * 2 + 1);
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (prev != b) segs.push_back({prev, b, invert});
    segs.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != size) segs.push_back({prev, size, invert});

  std::vector<Seg> acc;
  acc.reserve(segs.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const auto& s : segs) {
        if (!s.is_match) acc.push_back(s);
      }
      break;
    case SplitBehavior::Isolated:
      acc = segs;
      break;
    case SplitBehavior::MergedWithPrevious:
      for (const auto& s : segs) {
        if (s.is_match && !previous_match && !acc.empty()) {
          acc.back().e = s.e;
        } else {
          acc.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->is_match && !previous_match && !acc.empty()) {
          acc.back().b = it->b;
        } else {
          acc.push_back(*it);
        }
        previous_match = it->is_match;
      }
      std::reverse(acc.begin(), acc.end());
      break;
    case SplitBehavior::Contiguous:
      for (const auto& s : segs) {
        if (s.is_match == previous_match && !acc.empty()) {
          acc.back().e = s.e;
        } else {
          acc.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
  }
  std::vector<std::pair<size_t, size_t>> out;
  out.reserve(acc.size());
  for (const auto& s : acc) {
    if (s.e > s.b) out.emplace_back(s.b, s.e);
  }
  return out;
}

const std::shared_ptr<const Regex>& gpt2_regex() {
  static const std::shared_ptr<const Regex> re = std::make_shared<const Regex>(
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", "ByteLevel pre-tokenizer");
  return re;
}

namespace {

void literal_matches(std::string_view s, std::string_view lit, std::vector<std::pair<size_t, size_t>>& out) {
  if (lit.empty()) return;
  for (size_t pos = s.find(lit); pos != std::string_view::npos; pos = s.find(lit, pos + lit.size())) {
    out.emplace_back(pos, pos + lit.size());
  }
}

// Splits every piece with `fn(piece) -> ranges`, keeping at_start only for a first sub-piece that
// begins where its piece began.
template <typename Fn>
void split_pieces(std::vector<Piece>& pieces, Fn&& fn) {
  std::vector<Piece> next;
  next.reserve(pieces.size());
  for (auto& p : pieces) {
    const auto ranges = fn(p);
    for (size_t i = 0; i < ranges.size(); ++i) {
      next.push_back({p.text.substr(ranges[i].first, ranges[i].second - ranges[i].first),
                      p.at_start && i == 0 && ranges[i].first == 0});
    }
  }
  pieces = std::move(next);
}

}  // namespace

void pre_tokenize(const std::vector<PreTokenizerStep>& steps, std::vector<Piece>& pieces) {
  std::vector<std::pair<size_t, size_t>> m;
  for (const auto& st : steps) {
    switch (st.kind) {
      case PreTokenizerStep::Kind::ByteLevel: {
        if (st.add_prefix_space) {
          for (auto& p : pieces) {
            if (!starts_with(p.text, " ")) p.text.insert(0, " ");
          }
        }
        if (st.use_regex) {
          split_pieces(pieces, [&](const Piece& p) {
            m.clear();
            gpt2_regex()->find_all(p.text, m);
            return split_by_matches(p.text.size(), m, SplitBehavior::Isolated, false);
          });
        }
        for (auto& p : pieces) p.text = bytes_to_byte_level(p.text);
        break;
      }
      case PreTokenizerStep::Kind::Metaspace: {
        for (auto& p : pieces) {
          replace_all(p.text, " ", st.replacement);
          const bool needs_prefix = !starts_with(p.text, st.replacement);
          if (needs_prefix && (st.prepend_scheme == PrependScheme::Always ||
                               (st.prepend_scheme == PrependScheme::First && p.at_start))) {
            p.text.insert(0, st.replacement);
          }
        }
        if (st.split) {
          split_pieces(pieces, [&](const Piece& p) {
            m.clear();
            literal_matches(p.text, st.replacement, m);
            return split_by_matches(p.text.size(), m, SplitBehavior::MergedWithNext, false);
          });
        }
        break;
      }
      case PreTokenizerStep::Kind::Split:
      case PreTokenizerStep::Kind::Digits:
      case PreTokenizerStep::Kind::Punctuation:
      case PreTokenizerStep::Kind::Whitespace:
      case PreTokenizerStep::Kind::WhitespaceSplit:
        split_pieces(pieces, [&](const Piece& p) {
          m.clear();
          if (st.regex) {
            st.regex->find_all(p.text, m);
          } else {
            literal_matches(p.text, st.literal, m);
          }
          return split_by_matches(p.text.size(), m, st.behavior, st.invert);
        });
        break;
    }
  }
}

namespace {

bool byte_token_value(std::string_view t, unsigned char* out) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return false;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(t[3]), lo = hex(t[4]);
  if (hi < 0 || lo < 0) return false;
  *out = static_cast<unsigned char>(hi * 16 + lo);
  return true;
}

std::string byte_level_decode(const std::string& t) {
  std::string out;
  out.reserve(t.size());
  if (!is_valid_utf8(t)) return t;
  for (size_t pos = 0; pos < t.size();) {
    const int b = byte_from_codepoint(next_codepoint(t, pos));
    if (b < 0) return t;  // not a byte-level token (e.g. an added token): keep its text
    out.push_back(static_cast<char>(b));
  }
  return out;
}

std::string join(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

void strip_token(std::string& t, std::string_view c, size_t start, size_t stop) {
  if (c.empty()) return;
  for (size_t i = 0; i < start && starts_with(t, c); ++i) t.erase(0, c.size());
  for (size_t i = 0; i < stop && t.size() >= c.size() && t.compare(t.size() - c.size(), c.size(), c) == 0; ++i) {
    t.erase(t.size() - c.size());
  }
}

}  // namespace

std::string run_decoders(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens,
                         DecodeContext ctx) {
  if (steps.empty()) {
    std::string out = ctx == DecodeContext::StreamNext ? " " : "";
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  bool fused = false;
  for (const auto& st : steps) {
    switch (st.kind) {
      case DecoderStep::Kind::ByteLevel: {
        std::string all;
        for (const auto& t : tokens) all += byte_level_decode(t);
        tokens.assign(1, std::move(all));
        fused = true;
        break;
      }
      case DecoderStep::Kind::ByteFallback:
        for (auto& t : tokens) {
          unsigned char b;
          if (byte_token_value(t, &b)) t.assign(1, static_cast<char>(b));
        }
        break;
      case DecoderStep::Kind::Fuse:
        tokens.assign(1, join(tokens));
        fused = true;
        break;
      case DecoderStep::Kind::Strip: {
        // After a Fuse the list is one string: its start is the sequence's start, its end the
        // sequence's end; before it, Hugging Face strips every token.
        const size_t start = (!fused || ctx != DecodeContext::StreamNext) ? st.strip_start : 0;
        const size_t stop = (!fused || ctx == DecodeContext::Whole) ? st.strip_stop : 0;
        for (auto& t : tokens) strip_token(t, st.strip_content, start, stop);
        break;
      }
      case DecoderStep::Kind::Replace:
        for (auto& t : tokens) {
          if (st.regex) {
            replace_regex(t, *st.regex, st.content);
          } else {
            replace_all(t, st.pattern, st.content);
          }
        }
        break;
      case DecoderStep::Kind::Metaspace: {
        const bool drops = st.prepend_scheme != PrependScheme::Never;
        for (size_t i = 0; i < tokens.size(); ++i) {
          // Hugging Face drops every replacement character of the first token of the list.
          const bool first = i == 0 && (ctx != DecodeContext::StreamNext || fused);
          replace_all(tokens[i], st.replacement, first && drops ? "" : " ");
        }
        break;
      }
    }
  }
  return join(tokens);
}

}  // namespace mlxcel::tok
