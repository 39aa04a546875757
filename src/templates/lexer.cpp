#include "templates/lexer.h"

#include <algorithm>
#include <cstdlib>

#include "mlxcel/errors.h"
#include "templates/text.h"

namespace mlxcel::templates {

std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  return out;
}

SourcePos LexedTemplate::position(size_t offset) const {
  SourcePos pos;
  const size_t end = std::min(offset, source.size());
  for (size_t i = 0; i < end; ++i) {
    if (source[i] == '\n') {
      ++pos.line;
      pos.column = 1;
    } else if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) {
      ++pos.column;
    }
  }
  return pos;
}

std::string LexedTemplate::describe(size_t offset, const std::string& message) const {
  const SourcePos pos = position(offset);
  const size_t at = std::min(offset, source.size());
  const size_t line_start = source.rfind('\n', at == 0 ? 0 : at - 1);
  const size_t b = (line_start == std::string::npos || at == 0) ? 0 : line_start + 1;
  size_t e = source.find('\n', at);
  if (e == std::string::npos) e = source.size();
  std::string line = source.substr(b, e - b);
  size_t caret = pos.column - 1;
  // Keep the snippet short around the error.
  constexpr size_t kWidth = 100;
  if (line.size() > kWidth) {
    const size_t from = caret > kWidth / 2 ? caret - kWidth / 2 : 0;
    line = line.substr(from, kWidth);
    caret -= from;
  }
  return "line " + std::to_string(pos.line) + ", column " + std::to_string(pos.column) + ": " +
         message + "\n  " + line + "\n  " + std::string(std::min(caret, line.size()), ' ') + "^";
}

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(const LexerOptions& options, LexedTemplate& out) : opt_(options), out_(out), src_(out.source) {}

  void run() {
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      if (tag == std::string::npos) {
        emit_text(src_.substr(pos_), pos_);
        pos_ = src_.size();
        break;
      }
      const char kind = src_[tag + 1];
      size_t after = tag + 2;
      char sign = 0;
      if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
      std::string text = src_.substr(pos_, tag - pos_);
      const bool is_raw = kind == '%' && raw_begin(after);
      apply_left_strip(text, sign, kind != '{');
      emit_text(std::move(text), pos_);
      if (kind == '#') {
        lex_comment(tag, after);
      } else if (is_raw) {
        lex_raw(tag);
      } else {
        lex_tag(tag, after, kind);
      }
    }
    out_.tokens.push_back(Token{TokenType::End, "", 0, 0, src_.size()});
  }

 private:
  // Next "{{", "{%" or "{#" at or after from.
  size_t find_tag(size_t from) const {
    while (true) {
      const size_t at = src_.find('{', from);
      if (at == std::string::npos || at + 1 >= src_.size()) return std::string::npos;
      const char c = src_[at + 1];
      if (c == '{' || c == '%' || c == '#') return at;
      from = at + 1;
    }
  }

  [[noreturn]] void error(size_t offset, const std::string& message) const {
    throw FormatError("templates", "syntax error at " + out_.describe(offset, message));
  }

  void apply_left_strip(std::string& text, char sign, bool block_like) const {
    if (sign == '-') {
      size_t e = text.size();
      while (e > 0 && is_ws(text[e - 1])) --e;
      text.resize(e);
    } else if (sign != '+' && block_like && opt_.lstrip_blocks) {
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if (l_pos > 0 || line_starting_) {
        const bool blank = std::all_of(text.begin() + static_cast<std::ptrdiff_t>(l_pos), text.end(),
                                       [](char c) { return c == ' ' || c == '\t' || c == '\f' || c == '\v'; });
        if (blank) text.resize(l_pos);
      }
    }
  }

  void emit_text(std::string text, size_t offset) {
    if (!text.empty()) out_.tokens.push_back(Token{TokenType::Text, std::move(text), 0, 0, offset});
  }

  // After a closing tag: `-` eats all following whitespace, plain block/comment ends eat one
  // newline when trim_blocks is on.
  void finish_tag(size_t end, char sign, bool block_like) {
    pos_ = end;
    if (sign == '-') {
      while (pos_ < src_.size() && is_ws(src_[pos_])) ++pos_;
    } else if (sign != '+' && block_like && opt_.trim_blocks && pos_ < src_.size() &&
               src_[pos_] == '\n') {
      ++pos_;
    }
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  }

  void lex_comment(size_t tag, size_t body) {
    const size_t close = src_.find("#}", body);
    if (close == std::string::npos) error(tag, "missing end of comment tag");
    char sign = 0;
    if (close > body && (src_[close - 1] == '-' || src_[close - 1] == '+')) sign = src_[close - 1];
    finish_tag(close + 2, sign, true);
  }

  // `{% raw %}` (with optional signs) starting right after "{%" and its sign.
  bool raw_begin(size_t p) const {
    while (p < src_.size() && is_ws(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    if (p < src_.size() && is_name_char(src_[p])) return false;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    return src_.compare(p, 2, "%}") == 0 || src_.compare(p, 3, "-%}") == 0;
  }

  void lex_raw(size_t tag) {
    // Skip the opening `{% raw %}`; no trim_blocks newline after it (as in Jinja).
    size_t p = src_.find("%}", tag + 2);
    const bool strip_after = src_[p - 1] == '-';
    p += 2;
    if (strip_after) {
      while (p < src_.size() && is_ws(src_[p])) ++p;
    }
    // Find `{%[-+]? endraw [-+]?%}`.
    size_t search = p;
    while (true) {
      const size_t open = src_.find("{%", search);
      if (open == std::string::npos) error(tag, "missing end of raw directive");
      size_t q = open + 2;
      char sign = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
      while (q < src_.size() && is_ws(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      q += 6;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      char end_sign = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) end_sign = src_[q++];
      if (src_.compare(q, 2, "%}") != 0) {
        search = open + 2;
        continue;
      }
      std::string body = src_.substr(p, open - p);
      const bool saved = line_starting_;
      line_starting_ = false;  // the raw body never starts a line for lstrip purposes
      apply_left_strip(body, sign, true);
      line_starting_ = saved;
      emit_text(std::move(body), p);
      finish_tag(q + 2, end_sign, true);
      return;
    }
  }

  void lex_tag(size_t tag, size_t p, char kind) {
    const bool block = kind == '%';
    out_.tokens.push_back(Token{block ? TokenType::BlockBegin : TokenType::VarBegin, "", 0, 0, tag});
    std::vector<char> brackets;
    while (true) {
      while (p < src_.size() && is_ws(src_[p])) ++p;
      if (p >= src_.size()) {
        error(tag, block ? "unexpected end of template inside a block tag"
                         : "unexpected end of template inside a print tag");
      }
      if (brackets.empty()) {
        const char* close = block ? "%}" : "}}";
        char sign = 0;
        size_t end = std::string::npos;
        if (src_.compare(p, 2, close) == 0) {
          end = p + 2;
        } else if ((src_[p] == '-' || (block && src_[p] == '+')) && src_.compare(p + 1, 2, close) == 0) {
          sign = src_[p];
          end = p + 3;
        }
        if (end != std::string::npos) {
          out_.tokens.push_back(Token{block ? TokenType::BlockEnd : TokenType::VarEnd, "", 0, 0, p});
          finish_tag(end, sign, block);
          return;
        }
      }
      p = lex_token(p, brackets);
    }
  }

  size_t lex_token(size_t p, std::vector<char>& brackets) {
    const char c = src_[p];
    if (is_name_start(c)) {
      size_t e = p + 1;
      while (e < src_.size() && is_name_char(src_[e])) ++e;
      out_.tokens.push_back(Token{TokenType::Name, src_.substr(p, e - p), 0, 0, p});
      return e;
    }
    if (c == '\'' || c == '"') return lex_string(p);
    if (is_digit(c)) return lex_number(p);
    static const char* const kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*",
                                       "%",  "~",  "<",  ">",  "=",  ".",  ",", ":", "|", "(",
                                       ")",  "[",  "]",  "{",  "}",  ";"};
    for (const char* op : kOps) {
      const size_t n = std::char_traits<char>::length(op);
      if (src_.compare(p, n, op) != 0) continue;
      if (n == 1 && (c == '(' || c == '[' || c == '{')) brackets.push_back(c);
      if (n == 1 && (c == ')' || c == ']' || c == '}')) {
        const char want = c == ')' ? '(' : (c == ']' ? '[' : '{');
        if (brackets.empty() || brackets.back() != want) {
          error(p, std::string("unexpected '") + c + "'");
        }
        brackets.pop_back();
      }
      out_.tokens.push_back(Token{TokenType::Op, op, 0, 0, p});
      return p + n;
    }
    error(p, std::string("unexpected character '") + c + "'");
  }

  size_t lex_string(size_t p) {
    const char quote = src_[p];
    std::string value;
    size_t i = p + 1;
    while (true) {
      if (i >= src_.size()) error(p, "unterminated string");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) error(p, "unterminated string");
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': value.push_back('\\'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
        case 'a': value.push_back('\a'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'n': value.push_back('\n'); break;
        case 'r': value.push_back('\r'); break;
        case 't': value.push_back('\t'); break;
        case 'v': value.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          const int digits = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          if (i + digits > src_.size()) error(i - 2, "truncated \\" + std::string(1, e) + " escape");
          const std::string hex = src_.substr(i, digits);
          if (!std::all_of(hex.begin(), hex.end(), [](char h) { return std::isxdigit(static_cast<unsigned char>(h)); })) {
            error(i - 2, "truncated \\" + std::string(1, e) + " escape");
          }
          const unsigned long cp = std::strtoul(hex.c_str(), nullptr, 16);
          if (cp > 0x10FFFF) error(i - 2, "illegal Unicode character in escape");
          text::append_utf8(value, static_cast<char32_t>(cp));
          i += digits;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            unsigned cp = static_cast<unsigned>(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k, ++i) {
              cp = cp * 8 + static_cast<unsigned>(src_[i] - '0');
            }
            text::append_utf8(value, cp);
          } else {
            value.push_back('\\');  // unknown escapes stay as written, as in Python
            value.push_back(e);
          }
      }
    }
    out_.tokens.push_back(Token{TokenType::String, std::move(value), 0, 0, p});
    return i + 1;
  }

  size_t lex_number(size_t p) {
    auto digits = [&](size_t q, auto pred) {
      // digit ( _? digit )*
      size_t e = q;
      if (e >= src_.size() || !pred(src_[e])) return q;
      ++e;
      while (e < src_.size()) {
        if (pred(src_[e])) {
          ++e;
        } else if (src_[e] == '_' && e + 1 < src_.size() && pred(src_[e + 1])) {
          e += 2;
        } else {
          break;
        }
      }
      return e;
    };
    auto clean = [](std::string s) {
      s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
      return s;
    };
    const bool after_dot = p > 0 && src_[p - 1] == '.';
    size_t e = digits(p, is_digit);
    if (!after_dot) {
      size_t f = e;
      bool is_float = false;
      if (f < src_.size() && src_[f] == '.' && f + 1 < src_.size() && is_digit(src_[f + 1])) {
        f = digits(f + 1, is_digit);
        is_float = true;
      }
      if (f < src_.size() && (src_[f] == 'e' || src_[f] == 'E')) {
        size_t g = f + 1;
        if (g < src_.size() && (src_[g] == '+' || src_[g] == '-')) ++g;
        const size_t h = digits(g, is_digit);
        if (h > g) {
          f = h;
          is_float = true;
        }
      }
      if (is_float) {
        const std::string s = clean(src_.substr(p, f - p));
        out_.tokens.push_back(Token{TokenType::Float, s, 0, std::strtod(s.c_str(), nullptr), p});
        return f;
      }
    }
    int base = 10;
    size_t start = p;
    if (src_[p] == '0' && p + 1 < src_.size()) {
      const char x = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[p + 1])));
      auto is_bin = [](char ch) { return ch == '0' || ch == '1'; };
      auto is_oct = [](char ch) { return ch >= '0' && ch <= '7'; };
      auto is_hex = [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; };
      size_t q = p + 2;
      if (q < src_.size() && src_[q] == '_') ++q;
      size_t r = q;
      if (x == 'b') r = digits(q, is_bin), base = 2;
      if (x == 'o') r = digits(q, is_oct), base = 8;
      if (x == 'x') r = digits(q, is_hex), base = 16;
      if (base != 10 && r > q) {
        start = q;
        e = r;
      } else {
        base = 10;
      }
    }
    const std::string s = clean(src_.substr(start, e - start));
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), nullptr, base);
    if (errno == ERANGE || v > 9223372036854775807ULL) error(p, "integer literal too large");
    out_.tokens.push_back(Token{TokenType::Int, src_.substr(p, e - p), static_cast<int64_t>(v), 0, p});
    return e;
  }

  const LexerOptions& opt_;
  LexedTemplate& out_;
  const std::string& src_;
  size_t pos_ = 0;
  bool line_starting_ = true;
};

}  // namespace

LexedTemplate lex(const std::string& source, const LexerOptions& options) {
  LexedTemplate out;
  out.source = normalize_newlines(source);
  if (!options.keep_trailing_newline && !out.source.empty() && out.source.back() == '\n') {
    out.source.pop_back();
  }
  Lexer(options, out).run();
  return out;
}

}  // namespace mlxcel::templates
