// Python's printf-style string formatting, `"%s: %d" % (a, b)`.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "templates/budget.h"
#include "templates/builtins.h"
#include "templates/text.h"

namespace mlxcel::templates {

namespace {

std::string pad(std::string body, int64_t width, bool left, char fill, bool numeric_sign_first) {
  const auto len = static_cast<int64_t>(text::length(body));
  if (width <= len) return body;
  const auto n = static_cast<size_t>(width - len);
  if (left) return body + std::string(n, ' ');
  if (fill == '0' && numeric_sign_first && !body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) {
    return body.substr(0, 1) + std::string(n, '0') + body.substr(1);
  }
  return std::string(n, fill) + body;
}

int64_t to_integer(const Value& v, char conv) {
  if (v.is_int()) return v.as_int();
  if (v.is_bool()) return v.as_bool() ? 1 : 0;
  if (v.is_float() && conv != 'x' && conv != 'X' && conv != 'o' && conv != 'c') {
    if (!std::isfinite(v.as_float()) || std::fabs(v.as_float()) >= 9.2e18) fail("cannot convert float to integer");
    return static_cast<int64_t>(v.as_float());
  }
  fail(std::string("%") + conv + " format: an integer is required, not " + v.type_name());
}

}  // namespace

Value percent_format(const Value& format, const Value& args) {
  const std::string& f = format.as_string();
  ValueList positional;
  const bool mapping_like = args.is_dict() || args.is_list();
  if (args.is_tuple()) {
    positional = args.items();
  } else {
    positional.push_back(args);
  }
  size_t next = 0;
  bool used_mapping = false;
  auto take = [&]() -> const Value& {
    // Once a %(key)s field was used, Python has no positional arguments left.
    if (used_mapping || next >= positional.size()) fail("not enough arguments for format string");
    return positional[next++];
  };
  auto as_text = [&](const Value& v, bool use_repr) {
    std::string s = use_repr ? repr(v) : to_str(v);
    if (format.is_markup() && !(v.is_markup() && !use_repr)) s = html_escape_checked(s);
    return s;
  };
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out.push_back(f[i]);
      continue;
    }
    if (++i >= f.size()) fail("incomplete format");
    const Value* mapped = nullptr;
    if (f[i] == '(') {
      const size_t close = f.find(')', i);
      if (close == std::string::npos) fail("incomplete format key");
      if (!args.is_dict()) fail("format requires a mapping");
      mapped = args.as_dict().find(f.substr(i + 1, close - i - 1));
      if (!mapped) fail("KeyError: '" + f.substr(i + 1, close - i - 1) + "'");
      used_mapping = true;
      i = close + 1;
    }
    bool left = false, plus = false, space = false, alt = false;
    char fill = ' ';
    for (; i < f.size(); ++i) {
      const char c = f[i];
      if (c == '-') left = true;
      else if (c == '+') plus = true;
      else if (c == ' ') space = true;
      else if (c == '#') alt = true;
      else if (c == '0') fill = '0';
      else break;
    }
    // Widths and precisions beyond this would only build absurd strings.
    constexpr int64_t kMaxField = 1 << 20;
    auto number = [&](int64_t& v) {
      if (i < f.size() && f[i] == '*') {
        const Value& star = take();
        if (!star.is_int() && !star.is_bool()) fail("* wants int");
        v = to_integer(star, 'd');
        ++i;
      } else {
        while (i < f.size() && f[i] >= '0' && f[i] <= '9') v = std::min<int64_t>(v * 10 + (f[i++] - '0'), kMaxField + 1);
      }
    };
    int64_t width = 0;
    number(width);
    if (width < 0) {
      left = true;
      width = width == INT64_MIN ? kMaxField + 1 : -width;
    }
    int64_t precision = -1;
    if (i < f.size() && f[i] == '.') {
      ++i;
      precision = 0;
      number(precision);
      if (precision < 0) precision = 0;
    }
    if (width > kMaxField || precision > kMaxField) fail("format width or precision is too large");
    while (i < f.size() && (f[i] == 'h' || f[i] == 'l' || f[i] == 'L')) ++i;
    if (i >= f.size()) fail("incomplete format");
    const char conv = f[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    const Value& v = mapped ? *mapped : take();
    std::string body;
    bool numeric = false;
    switch (conv) {
      case 's':
      case 'r':
      case 'a':
        body = as_text(v, conv != 's');
        if (precision >= 0) body = text::encode(text::decode(body).substr(0, static_cast<size_t>(precision)));
        fill = ' ';
        break;
      case 'c':
        if (v.is_string() && text::length(v.as_string()) == 1) {
          body = v.as_string();
        } else {
          const int64_t cp = to_integer(v, 'c');
          if (cp < 0 || cp > 0x10FFFF) fail("%c arg not in range(0x110000)");
          text::append_utf8(body, static_cast<char32_t>(cp));
        }
        fill = ' ';
        break;
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        if (!v.is_number()) fail(std::string("%") + conv + " format: a real number is required, not " + v.type_name());
        const int64_t n = to_integer(v, conv);
        const uint64_t mag = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
        char buf[80];
        const char* spec = conv == 'x' ? "%llx" : conv == 'X' ? "%llX" : conv == 'o' ? "%llo" : "%llu";
        std::snprintf(buf, sizeof buf, spec, static_cast<unsigned long long>(mag));
        std::string digits = buf;
        if (precision > static_cast<int64_t>(digits.size())) digits.insert(0, static_cast<size_t>(precision) - digits.size(), '0');
        if (alt && conv != 'd' && conv != 'i' && conv != 'u') digits.insert(0, conv == 'o' ? "0o" : (conv == 'x' ? "0x" : "0X"));
        body = (n < 0 ? "-" : plus ? "+" : space ? " " : "") + digits;
        numeric = true;
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!v.is_number()) fail(std::string("must be real number, not ") + v.type_name());
        const double d = v.as_double();
        std::string spec = "%";
        if (plus) spec += '+';
        if (space) spec += ' ';
        if (alt) spec += '#';
        spec += "." + std::to_string(precision < 0 ? 6 : precision) + conv;
        const int n = std::snprintf(nullptr, 0, spec.c_str(), d);
        body.assign(static_cast<size_t>(std::max(n, 0)) + 1, '\0');
        std::snprintf(body.data(), body.size(), spec.c_str(), d);
        body.pop_back();
        numeric = true;
        break;
      }
      default: fail(std::string("unsupported format character '") + conv + "'");
    }
    out += pad(std::move(body), width, left, numeric ? fill : ' ', numeric);
    check_string_bytes(out.size(), "a %-formatted string");
  }
  if (next < positional.size() && !mapping_like && !used_mapping && !(args.is_tuple() && positional.empty())) {
    fail("not all arguments converted during string formatting");
  }
  return format.is_markup() ? Value::markup(std::move(out)) : Value::string(std::move(out));
}

}  // namespace mlxcel::templates
