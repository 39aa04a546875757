#include "templates/text.h"

#include <algorithm>

#include "core/utf8.h"

namespace mlxcel::templates::text {

// Bytes that are not well-formed UTF-8 (core's reading) become U+DC80..U+DCFF one byte at a time,
// like Python's surrogateescape, so encode() gives them back unchanged.
std::u32string decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (valid_sequence_length(s, i) == 0) {
      out.push_back(0xDC00 + static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    out.push_back(next_codepoint(s, i));
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp >= 0xDC80 && cp <= 0xDCFF) {
    out.push_back(static_cast<char>(cp - 0xDC00));
  } else {
    mlxcel::append_utf8(out, cp);
  }
}

std::string encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

size_t length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  return decode(s).size();
}

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

bool is_printable(char32_t c) {
  if (c < 0x20 || c == 0x7F) return false;
  if (c < 0x7F) return true;
  if (c <= 0xA0) return false;  // C1 controls and no-break space
  static constexpr char32_t ranges[][2] = {
      {0xAD, 0xAD},       {0x600, 0x605},     {0x61C, 0x61C},     {0x6DD, 0x6DD},
      {0x70F, 0x70F},     {0x1680, 0x1680},   {0x180E, 0x180E},   {0x2000, 0x200F},
      {0x2028, 0x202F},   {0x205F, 0x206F},   {0x3000, 0x3000},   {0xD800, 0xF8FF},
      {0xFEFF, 0xFEFF},   {0xFFF9, 0xFFFB},   {0xFFFE, 0xFFFF},   {0x110BD, 0x110BD},
      {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F}, {0xF0000, 0x10FFFF},
  };
  for (const auto& r : ranges) {
    if (c >= r[0] && c <= r[1]) return false;
  }
  return true;
}

namespace {

// Pairs laid out as upper at even, lower at odd code points (or the reverse when odd_upper).
bool in_pair_range(char32_t c, char32_t lo, char32_t hi) { return c >= lo && c <= hi; }

struct CaseRange {
  char32_t upper_lo, upper_hi, lower_lo;
};
constexpr CaseRange kOffsetRanges[] = {
    {'A', 'Z', 'a'},          {0xC0, 0xD6, 0xE0},       {0xD8, 0xDE, 0xF8},
    {0x391, 0x3A1, 0x3B1},    {0x3A3, 0x3AB, 0x3C3},    {0x388, 0x38A, 0x3AD},
    {0x38E, 0x38F, 0x3CD},    {0x410, 0x42F, 0x430},    {0x400, 0x40F, 0x450},
    {0xFF21, 0xFF3A, 0xFF41},
};

// Alternating upper/lower pairs: [lo, hi] where lo is an upper-case letter.
constexpr char32_t kPairRanges[][2] = {
    {0x100, 0x12F}, {0x132, 0x137}, {0x139, 0x148}, {0x14A, 0x177}, {0x179, 0x17E},
    {0x460, 0x481}, {0x48A, 0x4BF}, {0x4D0, 0x52F}, {0x1E00, 0x1E95}, {0x1EA0, 0x1EFF},
};

bool pair_upper(char32_t c, char32_t& lower_out) {
  for (const auto& r : kPairRanges) {
    if (in_pair_range(c, r[0], r[1]) && ((c - r[0]) % 2 == 0)) {
      lower_out = c + 1;
      return true;
    }
  }
  return false;
}

bool pair_lower(char32_t c, char32_t& upper_out) {
  for (const auto& r : kPairRanges) {
    if (in_pair_range(c, r[0], r[1]) && ((c - r[0]) % 2 == 1)) {
      upper_out = c - 1;
      return true;
    }
  }
  return false;
}

}  // namespace

char32_t lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  for (const auto& r : kOffsetRanges) {
    if (c >= r.upper_lo && c <= r.upper_hi) return c - r.upper_lo + r.lower_lo;
  }
  char32_t out;
  if (pair_upper(c, out)) return out;
  if (c == 0x178) return 0xFF;
  if (c == 0x386) return 0x3AC;
  if (c == 0x38C) return 0x3CC;
  return c;
}

std::u32string upper(char32_t c) {
  if (c < 0x80) return std::u32string(1, (c >= 'a' && c <= 'z') ? c - 32 : c);
  if (c == 0xDF) return U"SS";
  for (const auto& r : kOffsetRanges) {
    const char32_t hi = r.lower_lo + (r.upper_hi - r.upper_lo);
    if (c >= r.lower_lo && c <= hi) return std::u32string(1, c - r.lower_lo + r.upper_lo);
  }
  char32_t out;
  if (pair_lower(c, out)) return std::u32string(1, out);
  switch (c) {
    case 0xFF: return U"\u0178";
    case 0xB5: return U"\u039C";
    case 0x131: return U"I";
    case 0x17F: return U"S";
    case 0x3C2: return U"\u03A3";
    case 0x3AC: return U"\u0386";
    case 0x3CC: return U"\u038C";
    default: return std::u32string(1, c);
  }
}

bool is_upper_char(char32_t c) { return lower(c) != c; }
bool is_lower_char(char32_t c) {
  const auto u = upper(c);
  return u.size() != 1 || u[0] != c;
}
bool is_cased(char32_t c) { return is_upper_char(c) || is_lower_char(c); }

bool is_word(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return !is_space(c) && is_printable(c) && !(c >= 0x80 && c <= 0xBF && !is_cased(c)) &&
         c != 0xD7 && c != 0xF7 && !(c >= 0x2010 && c <= 0x2BFF) && !(c >= 0x3000 && c <= 0x303F);
}

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : decode(s)) {
    for (char32_t u : upper(c)) append_utf8(out, u);
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : decode(s)) append_utf8(out, lower(c));
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out;
  bool first = true;
  for (char32_t c : decode(s)) {
    if (first) {
      for (char32_t u : upper(c)) append_utf8(out, u);
      first = false;
    } else {
      append_utf8(out, lower(c));
    }
  }
  return out;
}

std::string title(std::string_view s) {
  std::string out;
  bool prev_cased = false;
  for (char32_t c : decode(s)) {
    if (prev_cased) {
      append_utf8(out, lower(c));
    } else {
      for (char32_t u : upper(c)) append_utf8(out, u);
    }
    prev_cased = is_cased(c);
  }
  return out;
}

bool islower(std::string_view s) {
  bool any = false;
  for (char32_t c : decode(s)) {
    if (is_upper_char(c)) return false;
    if (is_lower_char(c)) any = true;
  }
  return any;
}

bool isupper(std::string_view s) {
  bool any = false;
  for (char32_t c : decode(s)) {
    if (is_lower_char(c)) return false;
    if (is_upper_char(c)) any = true;
  }
  return any;
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right) {
  const std::u32string cs = decode(s);
  const std::u32string set = chars ? decode(*chars) : std::u32string();
  auto strip_this = [&](char32_t c) {
    return chars ? set.find(c) != std::u32string::npos : is_space(c);
  };
  size_t b = 0, e = cs.size();
  if (left) {
    while (b < e && strip_this(cs[b])) ++b;
  }
  if (right) {
    while (e > b && strip_this(cs[e - 1])) --e;
  }
  return encode(std::u32string_view(cs).substr(b, e - b));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t at = s.find(*sep, pos);
      if (at == std::string_view::npos) break;
      out.emplace_back(s.substr(pos, at - pos));
      pos = at + sep->size();
    }
    out.emplace_back(s.substr(pos));
    return out;
  }
  const std::u32string cs = decode(s);
  size_t i = 0;
  while (true) {
    while (i < cs.size() && is_space(cs[i])) ++i;
    if (i == cs.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      out.push_back(encode(std::u32string_view(cs).substr(i)));
      break;
    }
    size_t j = i;
    while (j < cs.size() && !is_space(cs[j])) ++j;
    out.push_back(encode(std::u32string_view(cs).substr(i, j - i)));
    i = j;
  }
  return out;
}

std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep,
                                int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t at = s.rfind(*sep, end - sep->size());
      if (at == std::string_view::npos) break;
      out.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    out.emplace_back(s.substr(0, end));
    std::reverse(out.begin(), out.end());
    return out;
  }
  const std::u32string cs = decode(s);
  size_t j = cs.size();
  while (true) {
    while (j > 0 && is_space(cs[j - 1])) --j;
    if (j == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      out.push_back(encode(std::u32string_view(cs).substr(0, j)));
      break;
    }
    size_t i = j;
    while (i > 0 && !is_space(cs[i - 1])) --i;
    out.push_back(encode(std::u32string_view(cs).substr(i, j - i)));
    j = i;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  const std::u32string cs = decode(s);
  size_t start = 0, i = 0;
  while (i < cs.size()) {
    if (!is_line_break(cs[i])) {
      ++i;
      continue;
    }
    size_t brk = 1;
    if (cs[i] == '\r' && i + 1 < cs.size() && cs[i + 1] == '\n') brk = 2;
    const size_t end = keepends ? i + brk : i;
    out.push_back(encode(std::u32string_view(cs).substr(start, end - start)));
    i += brk;
    start = i;
  }
  if (start < cs.size()) out.push_back(encode(std::u32string_view(cs).substr(start)));
  return out;
}

std::string replace(std::string_view s, std::string_view old, std::string_view repl,
                    int64_t count) {
  std::string out;
  if (old.empty()) {
    const std::u32string cs = decode(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cs.size(); ++i) {
      if (count < 0 || done < count) {
        out.append(repl);
        ++done;
      }
      if (i < cs.size()) append_utf8(out, cs[i]);
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(old, pos);
    if (at == std::string_view::npos) break;
    out.append(s.substr(pos, at - pos));
    out.append(repl);
    pos = at + old.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

uint64_t replaced_size(std::string_view s, std::string_view old, std::string_view repl,
                       int64_t count) {
  uint64_t n = old.empty() ? length(s) + 1 : static_cast<uint64_t>(text::count(s, old));
  if (count >= 0) n = std::min<uint64_t>(n, static_cast<uint64_t>(count));
  // Each replacement removes old and adds repl (old is empty for the insert-everywhere form).
  return s.size() - n * old.size() + n * repl.size();
}

size_t split_count(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  size_t n = 0;
  if (sep) {
    n = static_cast<size_t>(text::count(s, *sep)) + 1;
  } else {
    bool in_word = false;
    for (char32_t c : decode(s)) {
      const bool space = is_space(c);
      if (!space && !in_word) ++n;
      in_word = !space;
    }
  }
  if (maxsplit >= 0) n = std::min<size_t>(n, static_cast<size_t>(maxsplit) + 1);
  return n;
}

size_t splitlines_count(std::string_view s) {
  size_t n = 0;
  bool pending = false;  // characters after the last line break
  const std::u32string cs = decode(s);
  for (size_t i = 0; i < cs.size(); ++i) {
    if (!is_line_break(cs[i])) {
      pending = true;
      continue;
    }
    if (cs[i] == '\r' && i + 1 < cs.size() && cs[i + 1] == '\n') ++i;
    ++n;
    pending = false;
  }
  return n + (pending ? 1 : 0);
}

int64_t find(std::string_view s, std::string_view sub, bool reverse) {
  const size_t at = reverse ? s.rfind(sub) : s.find(sub);
  if (at == std::string_view::npos) return -1;
  return static_cast<int64_t>(length(s.substr(0, at)));
}

int64_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(length(s)) + 1;
  int64_t n = 0;
  size_t pos = 0;
  while ((pos = s.find(sub, pos)) != std::string_view::npos) {
    ++n;
    pos += sub.size();
  }
  return n;
}

std::string string_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  static const char* hex = "0123456789abcdef";
  for (char32_t c : decode(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (is_printable(c)) {
      append_utf8(out, c);
    } else {
      int digits = c <= 0xFF ? 2 : (c <= 0xFFFF ? 4 : 8);
      out += digits == 2 ? "\\x" : (digits == 4 ? "\\u" : "\\U");
      for (int k = digits - 1; k >= 0; --k) out.push_back(hex[(c >> (4 * k)) & 0xF]);
    }
  }
  out.push_back(quote);
  return out;
}

uint64_t html_escaped_size(std::string_view s) {
  uint64_t n = s.size();
  for (char c : s) {
    switch (c) {
      case '&': n += 4; break;   // &amp;
      case '<':
      case '>': n += 3; break;   // &lt; &gt;
      case '"':
      case '\'': n += 4; break;  // &#34; &#39;
      default: break;
    }
  }
  return n;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace mlxcel::templates::text
