#include "core/utf8.h"

namespace mlxcel {

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// Expected total length and the allowed range of the second byte for a lead byte (Unicode
// Table 3-7); length 0 for bytes that can never start a character.
struct LeadInfo {
  size_t len;
  unsigned char lo, hi;
};

LeadInfo lead_info(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of bytes of the (possibly partial) sequence at pos that are consistent with a
// well-formed character: equals the full length when complete.
size_t consistent_prefix(std::string_view s, size_t pos, size_t* full_len) {
  const auto b = static_cast<unsigned char>(s[pos]);
  const LeadInfo li = lead_info(b);
  *full_len = li.len;
  if (li.len <= 1) return li.len;
  size_t n = 1;
  while (n < li.len && pos + n < s.size()) {
    const auto c = static_cast<unsigned char>(s[pos + n]);
    const unsigned char lo = n == 1 ? li.lo : 0x80, hi = n == 1 ? li.hi : 0xBF;
    if (c < lo || c > hi) break;
    ++n;
  }
  return n;
}

}  // namespace

size_t valid_sequence_length(std::string_view s, size_t pos) {
  size_t full = 0;
  const size_t n = consistent_prefix(s, pos, &full);
  return n == full ? n : 0;
}

char32_t next_codepoint(std::string_view s, size_t& pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  const size_t len = utf8_char_len(b0);
  char32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (size_t i = 1; i < len && pos + i < s.size(); ++i) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[pos + i]) & 0x3F);
  }
  pos += len;
  return cp;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    const size_t n = valid_sequence_length(s, pos);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    size_t full = 0;
    const size_t n = consistent_prefix(s, pos, &full);
    if (n != 0 && n == full) {
      out.append(s.substr(pos, n));
      pos += n;
    } else {
      append_utf8(out, kReplacementChar);
      pos += n == 0 ? 1 : n;
    }
  }
  return out;
}

size_t utf8_emittable_prefix(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    size_t full = 0;
    const size_t n = consistent_prefix(s, pos, &full);
    if (n != 0 && n < full && pos + n == s.size()) return pos;  // may still complete
    pos += n == 0 ? 1 : n;
  }
  return s.size();
}

}  // namespace mlxcel
