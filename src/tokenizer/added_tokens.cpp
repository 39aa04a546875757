#include "tokenizer/added_tokens.h"

#include "core/utf8.h"
#include "tokenizer/utf8.h"

namespace mlxcel::tok {

void AddedTokenMatcher::add(const AddedToken& token, std::string text) {
  if (text.empty()) return;
  int32_t node = 0;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    int32_t nx = child(node, c);
    if (nx < 0) {
      nx = static_cast<int32_t>(nodes_.size());
      nodes_[node].next.emplace_back(c, nx);
      nodes_.emplace_back();
    }
    node = nx;
  }
  if (nodes_[node].entry >= 0) return;  // the first token with this text wins
  nodes_[node].entry = static_cast<int32_t>(entries_.size());
  entries_.push_back({token, text.size()});
}

int32_t AddedTokenMatcher::child(int32_t node, unsigned char c) const {
  for (const auto& [k, v] : nodes_[node].next) {
    if (k == c) return v;
  }
  return -1;
}

namespace {

// Word characters for single_word: letters, digits and '_' (non-ASCII non-space counts as a
// letter; Hugging Face uses char::is_alphanumeric).
bool is_word_cp(uint32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  return !is_unicode_whitespace(cp);
}

uint32_t cp_before(std::string_view s, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return next_codepoint(s, start);
}

}  // namespace

std::vector<AddedTokenMatcher::Segment> AddedTokenMatcher::split(std::string_view text, bool parse_special) const {
  std::vector<Segment> out;
  if (entries_.empty()) {
    if (!text.empty()) out.push_back({0, text.size(), -1});
    return out;
  }
  size_t text_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    // Longest acceptable match starting at pos.
    int32_t best = -1;
    int32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      node = child(node, static_cast<unsigned char>(text[i]));
      if (node < 0) break;
      const int32_t e = nodes_[node].entry;
      if (e >= 0 && (parse_special || !entries_[e].token.special)) best = e;
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    const Entry& en = entries_[best];
    size_t b = pos, e = pos + en.length;
    if (en.token.single_word) {
      const bool left_ok = b == 0 || !is_word_cp(cp_before(text, b));
      size_t p = e;
      const bool right_ok = e == text.size() || !is_word_cp(next_codepoint(text, p));
      if (!left_ok || !right_ok) {
        ++pos;
        continue;
      }
    }
    if (en.token.lstrip) {
      while (b > text_start && is_unicode_whitespace(cp_before(text, b))) {
        --b;
        while (b > text_start && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
      }
    }
    if (en.token.rstrip) {
      while (e < text.size()) {
        size_t p = e;
        if (!is_unicode_whitespace(next_codepoint(text, p))) break;
        e = p;
      }
    }
    if (b > text_start) out.push_back({text_start, b, -1});
    out.push_back({b, e, en.token.id});
    text_start = pos = e;
  }
  if (text_start < text.size()) out.push_back({text_start, text.size(), -1});
  return out;
}

}  // namespace mlxcel::tok
