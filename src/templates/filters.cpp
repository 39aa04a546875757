// Jinja's builtin filters with Python semantics, plus Hugging Face's `tojson` (json.dumps with
// ensure_ascii=False and no key sorting, unlike Jinja's own HTML-safe tojson).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "templates/budget.h"
#include "templates/builtins.h"
#include "templates/text.h"

namespace mlxcel::templates {

namespace {

// str() that keeps Markup (Jinja's soft_str).
Value soft_str(const Value& v) { return v.is_string() ? v : Value::string(to_str(v)); }
std::string s_of(const Value& v) { return to_str(v); }

Value ignore_case(const Value& v) { return v.is_string() ? Value::string(text::lower(v.as_string())) : v; }

// "a.b.0" -> lookups of "a", "b", 0 (digits become indexes), as Jinja's attribute getters do;
// a default (map's default=) replaces an undefined result after every step.
Value lookup_path(Interpreter& in, const Value& item, const Value& attribute,
                  const Value* dflt = nullptr) {
  auto step = [&](const Value& cur, const Value& key) {
    Value r = in.get_item(cur, key);
    return (r.is_undefined() && dflt && !dflt->is_none()) ? *dflt : r;
  };
  if (!attribute.is_string()) return step(item, attribute);
  check_list_items(text::split_count(attribute.as_string(), std::string("."), -1),
                   "the parts of an attribute path");
  Value cur = item;
  for (const std::string& part : text::split(attribute.as_string(), std::string("."), -1)) {
    const bool digits = !part.empty() && part.size() < 18 && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = step(cur, digits ? Value::integer(std::stoll(part)) : Value::string(part));
  }
  return cur;
}

// Sort key of make_multi_attrgetter: a list of one value per comma-separated attribute.
Value multi_key(Interpreter& in, const Value& item, const Value& attribute, bool case_sensitive) {
  ValueList key;
  if (attribute.is_undefined() || attribute.is_none()) {
    key.push_back(case_sensitive ? item : ignore_case(item));
  } else if (attribute.is_string()) {
    check_list_items(text::split_count(attribute.as_string(), std::string(","), -1),
                     "the attributes of a sort key");
    for (const std::string& a : text::split(attribute.as_string(), std::string(","), -1)) {
      const Value v = lookup_path(in, item, Value::string(a));
      key.push_back(case_sensitive ? v : ignore_case(v));
    }
  } else {
    const Value v = lookup_path(in, item, attribute);
    key.push_back(case_sensitive ? v : ignore_case(v));
  }
  return Value::list(std::move(key));
}

std::optional<double> parse_py_float(std::string s) {
  s = text::strip(s, std::nullopt, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || !::isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !::isdigit(static_cast<unsigned char>(s[i + 1]))) {
        return std::nullopt;
      }
      continue;
    }
    clean.push_back(s[i]);
  }
  if (clean.empty()) return std::nullopt;
  std::string lower = text::lower(clean);
  std::string body = lower;
  if (body[0] == '+' || body[0] == '-') body.erase(0, 1);
  if (body == "inf" || body == "infinity" || body == "nan") {
    const double v = body == "nan" ? NAN : INFINITY;
    return lower[0] == '-' ? -v : v;
  }
  if (!std::all_of(body.begin(), body.end(), [](char c) { return ::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-'; })) {
    return std::nullopt;
  }
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_py_int(std::string s, int base) {
  s = text::strip(s, std::nullopt, true, true);
  if (s.empty()) return std::nullopt;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  if (i + 1 < s.size() && s[i] == '0') {
    const char p = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i + 1])));
    if ((p == 'x' && base == 16) || (p == 'o' && base == 8) || (p == 'b' && base == 2)) i += 2;
  }
  std::string digits;
  for (; i < s.size(); ++i) {
    if (s[i] == '_' && !digits.empty() && i + 1 < s.size() && s[i + 1] != '_') continue;
    digits.push_back(s[i]);
  }
  if (digits.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(digits.c_str(), &end, base);
  if (end != digits.c_str() + digits.size() || errno == ERANGE || digits[0] == '-' || digits[0] == '+') {
    return std::nullopt;
  }
  return neg ? -v : v;
}

// ---- filters ----
Value f_abs(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("abs", args, {});
  if (v.is_float()) return Value::floating(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) return v.is_bool() ? Value::integer(v.as_bool()) : (v.as_int() < 0 ? negate(v) : v);
  if (v.is_undefined()) fail_undefined(v);
  fail("bad operand type for abs(): '" + v.type_name() + "'");
}

Value f_attr(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("attr", args, {"name"});
  if (v.is_undefined()) fail_undefined(v);
  if (!a[0].is_string()) fail("attribute name must be a string");
  if (v.is_object()) return v.as_object().get_attr(a[0].as_string());
  return get_method(v, a[0].as_string());
}

Value f_batch(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("batch", args, {"linecount", "fill_with"});
  const auto n = as_index(a[0]);
  if (!n || *n <= 0) fail("batch size must be a positive integer");
  ValueList out, cur;
  for (Value& item : iterate(v)) {
    if (static_cast<int64_t>(cur.size()) == *n) {
      out.push_back(Value::list(std::move(cur)));
      cur.clear();
    }
    cur.push_back(std::move(item));
  }
  if (!cur.empty()) {
    if (a.has(1) && !a[1].is_none()) {
      check_list_items(static_cast<uint64_t>(*n), "a batch");
      while (static_cast<int64_t>(cur.size()) < *n) cur.push_back(a[1]);
    }
    out.push_back(Value::list(std::move(cur)));
  }
  return Value::list(std::move(out));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("capitalize", args, {});
  return Value::string(text::capitalize(s_of(v)));
}

Value f_center(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("center", args, {"width"});
  CallArgs inner;
  inner.positional.push_back(a.get(0, Value::integer(80)));
  return get_method(Value::string(s_of(v)), "center").as_callable().fn(in, inner);
}

Value f_default(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("default", args, {"default_value", "boolean"});
  const bool boolean = a.has(1) && a[1].truthy();
  if (v.is_undefined() || (boolean && !v.truthy())) return a.get(0, Value::string(""));
  return v;
}

Value sorted_items(Interpreter&, ValueList items, bool reverse, const std::function<Value(const Value&)>& key) {
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : items) keyed.emplace_back(key(item), std::move(item));
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
    return reverse ? less_than(y.first, x.first) : less_than(x.first, y.first);
  });
  ValueList out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return Value::list(std::move(out));
}

Value f_dictsort(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_dict()) fail("dictsort expects a mapping, got " + v.type_name());
  const bool cs = a.has(0) && a[0].truthy();
  const std::string by = a.has(1) ? s_of(a[1]) : "key";
  if (by != "key" && by != "value") fail("You can only sort by either 'key' or 'value'");
  const size_t pos = by == "key" ? 0 : 1;
  ValueList items;
  for (const auto& [k, val] : v.as_dict().entries) items.push_back(Value::tuple({k, val}));
  return sorted_items(in, std::move(items), a.has(2) && a[2].truthy(), [&](const Value& item) {
    const Value& x = item.items()[pos];
    return cs ? x : ignore_case(x);
  });
}

Value f_escape(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("escape", args, {});
  if (v.is_markup()) return v;
  return Value::markup(html_escape_checked(s_of(v)));
}

Value f_first(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("first", args, {});
  ValueList items = iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("last", args, {});
  ValueList items = iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_float(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("float", args, {"default"});
  const Value fallback = a.get(0, Value::floating(0.0));
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_number()) return Value::floating(v.as_double());
  if (v.is_string()) {
    if (auto d = parse_py_float(v.as_string())) return Value::floating(*d);
  }
  return fallback;
}

Value f_int(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("int", args, {"default", "base"});
  const Value fallback = a.get(0, Value::integer(0));
  const int base = a.has(1) ? static_cast<int>(as_index(a[1]).value_or(10)) : 10;
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_int()) return v;
  if (v.is_bool()) return Value::integer(v.as_bool());
  if (v.is_float()) {
    const double d = v.as_float();
    if (std::isnan(d)) return fallback;
    if (std::isinf(d) || std::fabs(d) >= 9.2e18) fail("cannot convert float infinity to integer");
    return Value::integer(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    if (auto i = parse_py_int(v.as_string(), base)) return Value::integer(*i);
    if (auto d = parse_py_float(v.as_string())) {
      if (std::isnan(*d)) return fallback;
      if (std::isinf(*d) || std::fabs(*d) >= 9.2e18) fail("cannot convert float infinity to integer");
      return Value::integer(static_cast<int64_t>(*d));
    }
  }
  return fallback;
}

Value f_indent(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("indent", args, {"width", "first", "blank"});
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_string()) fail("can only indent a string, not " + v.type_name());
  std::string ind;
  const Value width = a.get(0, Value::integer(4));
  if (width.is_string()) {
    ind = width.as_string();
  } else {
    const auto w = as_index(width);
    if (!w) fail("indent width must be an integer or a string");
    ind = std::string(static_cast<size_t>(std::clamp<int64_t>(*w, 0, 1 << 16)), ' ');
  }
  const uint64_t line_count = text::splitlines_count(v.as_string()) + 1;
  check_string_bytes(v.as_string().size() + saturating_mul(line_count, ind.size() + 1),
                     "an indented string");
  check_list_items(line_count, "the lines of a string");
  const std::vector<std::string> lines = text::splitlines(v.as_string() + "\n", false);
  std::string rv;
  if (a.has(2) && a[2].truthy()) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + ind : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : ind + lines[i]);
  }
  if (a.has(1) && a[1].truthy()) rv = ind + rv;
  return Value::string(std::move(rv));
}

Value f_items(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("items", args, {});
  if (v.is_undefined()) return Value::list();
  if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
  ValueList out;
  for (const auto& [k, val] : v.as_dict().entries) out.push_back(Value::tuple({k, val}));
  return Value::list(std::move(out));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("join", args, {"d", "attribute"});
  const std::string sep = a.has(0) ? s_of(a[0]) : "";
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += s_of(a.has(1) && !a[1].is_none() ? lookup_path(in, item, a[1]) : item);
    in.check_size(out.size(), "a joined string");
  }
  return Value::string(std::move(out));
}

Value f_length(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("length", args, {});
  switch (v.kind()) {
    case Kind::Undefined: return Value::integer(0);
    case Kind::String: return Value::integer(static_cast<int64_t>(text::length(v.as_string())));
    case Kind::List:
    case Kind::Tuple: return Value::integer(static_cast<int64_t>(v.items().size()));
    case Kind::Dict: return Value::integer(static_cast<int64_t>(v.as_dict().size()));
    default: fail("object of type '" + v.type_name() + "' has no len()");
  }
}

Value f_list(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("list", args, {});
  return Value::list(iterate(v));
}

Value f_lower(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("lower", args, {});
  return Value::string(text::lower(s_of(v)));
}

Value f_upper(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("upper", args, {});
  return Value::string(text::upper(s_of(v)));
}

Value f_map(Interpreter& in, const Value& v, CallArgs& args) {
  ValueList out;
  if (!v.truthy()) return Value::list();
  const ValueList items = iterate(v);
  const Value* attribute = nullptr;
  const Value* dflt = nullptr;
  for (const auto& [k, val] : args.keyword) {
    if (k == "attribute") attribute = &val;
    if (k == "default") dflt = &val;
  }
  if (args.positional.empty() && attribute) {
    for (const auto& kv : args.keyword) {
      if (kv.first != "attribute" && kv.first != "default") fail("Unexpected keyword argument '" + kv.first + "'");
    }
    for (const Value& item : items) {
      out.push_back(lookup_path(in, item, *attribute, dflt));
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty()) fail("map requires a filter argument");
  const std::string name = s_of(args.positional[0]);
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : items) {
    CallArgs copy = rest;
    out.push_back(in.apply_filter(name, item, copy));
  }
  return Value::list(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, CallArgs& args, bool want_max) {
  BoundArgs a(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const ValueList items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const bool cs = a.has(0) && a[0].truthy();
  const Value attr = a.get(1, Value::none());
  auto key = [&](const Value& item) {
    const Value x = attr.is_none() ? item : lookup_path(in, item, attr);
    return cs ? x : ignore_case(x);
  };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (want_max ? less_than(best_key, k) : less_than(k, best_key)) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}
Value f_max(Interpreter& in, const Value& v, CallArgs& args) { return min_max(in, v, args, true); }
Value f_min(Interpreter& in, const Value& v, CallArgs& args) { return min_max(in, v, args, false); }

Value select_impl(Interpreter& in, const Value& v, CallArgs& args, bool attr, bool keep) {
  if (!v.truthy()) return Value::list();
  size_t next = 0;
  Value attribute;
  if (attr) {
    if (args.positional.empty()) fail("Missing parameter for attribute name");
    attribute = args.positional[next++];
  }
  std::optional<std::string> test;
  if (next < args.positional.size()) test = s_of(args.positional[next++]);
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next), args.positional.end());
  test_args.keyword = args.keyword;
  ValueList out;
  for (const Value& item : iterate(v)) {
    const Value x = attr ? lookup_path(in, item, attribute) : item;
    bool r;
    if (test) {
      CallArgs copy = test_args;
      r = in.apply_test(*test, x, copy);
    } else {
      r = x.truthy();
    }
    if (r == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}
Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, true); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, false); }

Value f_replace(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("replace", args, {"old", "new", "count"});
  if (!a.has(1)) fail("replace() missing required arguments");
  const int64_t count = a.has(2) && !a[2].is_none() ? as_index(a[2]).value_or(-1) : -1;
  const std::string s = s_of(v), old = s_of(a[0]), repl = s_of(a[1]);
  in.check_size(text::replaced_size(s, old, repl, count), "a replaced string");
  return Value::string(text::replace(s, old, repl, count));
}

Value f_reverse(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("reverse", args, {});
  if (v.is_string()) {
    std::u32string cs = text::decode(v.as_string());
    std::reverse(cs.begin(), cs.end());
    return Value::string(text::encode(cs));
  }
  ValueList items = iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

double round_half_even_digits(double x, int64_t digits) {
  if (!std::isfinite(x)) return x;
  if (digits >= 0) {
    // printf rounds the exact binary value half-to-even, which is what Python's round() does.
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min<int64_t>(digits, 300)), x);
    return std::strtod(buf, nullptr);
  }
  const double p = std::pow(10.0, static_cast<double>(-digits));
  return std::nearbyint(x / p) * p;
}

Value f_round(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("round", args, {"precision", "method"});
  const int64_t precision = a.has(0) ? as_index(a[0]).value_or(0) : 0;
  const std::string method = a.has(1) ? s_of(a[1]) : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    fail("method must be common, ceil or floor");
  }
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_number()) fail("type " + v.type_name() + " doesn't define __round__ method");
  if (method == "common") {
    if (!v.is_float()) {
      const int64_t i = v.is_bool() ? v.as_bool() : v.as_int();
      if (precision >= 0) return Value::integer(i);
      return Value::integer(static_cast<int64_t>(round_half_even_digits(static_cast<double>(i), precision)));
    }
    return Value::floating(round_half_even_digits(v.as_float(), precision));
  }
  const double p = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_double() * p;
  return Value::floating((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

Value f_safe(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("safe", args, {});
  return Value::markup(s_of(v));
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("sort", args, {"reverse", "case_sensitive", "attribute"});
  const bool cs = a.has(1) && a[1].truthy();
  const Value attr = a.get(2, Value::none());
  return sorted_items(in, iterate(v), a.has(0) && a[0].truthy(),
                      [&](const Value& item) { return multi_key(in, item, attr, cs); });
}

Value f_string(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("string", args, {});
  return soft_str(v);
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("sum", args, {"attribute", "start"});
  Value total = a.get(1, Value::integer(0));
  for (const Value& item : iterate(v)) {
    total = binary_op(BinaryOp::Add, total,
                      a.has(0) && !a[0].is_none() ? lookup_path(in, item, a[0]) : item);
  }
  return total;
}

Value f_title(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("title", args, {});
  // Jinja's title: words start after runs of whitespace, '-', '(', '{', '[' or '<'.
  std::string out;
  bool word_start = true;
  for (char32_t c : text::decode(s_of(v))) {
    const bool sep = text::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      text::append_utf8(out, c);
      word_start = true;
    } else if (word_start) {
      for (char32_t u : text::upper(c)) text::append_utf8(out, u);
      word_start = false;
    } else {
      text::append_utf8(out, text::lower(c));
    }
  }
  return Value::string(std::move(out));
}

Value f_tojson(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = a.has(0) && a[0].truthy();
  if (a.has(1) && !a[1].is_none()) {
    if (a[1].is_string()) {
      o.indent = a[1].as_string();
    } else if (auto n = as_index(a[1])) {
      o.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(*n, 0, 1 << 10)), ' ');
    } else {
      fail("tojson indent must be an integer or a string");
    }
    o.item_separator = ",";
  }
  if (a.has(2) && !a[2].is_none()) {
    const ValueList seps = iterate(a[2]);
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string()) {
      fail("tojson separators must be a pair of strings");
    }
    o.item_separator = seps[0].as_string();
    o.key_separator = seps[1].as_string();
  }
  o.sort_keys = a.has(3) && a[3].truthy();
  return Value::string(json_dumps(v, o));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("trim", args, {"chars"});
  std::optional<std::string> chars;
  if (a.has(0) && !a[0].is_none()) chars = s_of(a[0]);
  return Value::string(text::strip(s_of(v), chars, true, true));
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& args) {
  BoundArgs a("unique", args, {"case_sensitive", "attribute"});
  const bool cs = a.has(0) && a[0].truthy();
  const Value attr = a.get(1, Value::none());
  ValueList out, seen;
  for (const Value& item : iterate(v)) {
    Value key = attr.is_none() ? item : lookup_path(in, item, attr);
    if (!cs) key = ignore_case(key);
    tick_work(seen.size());
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs("wordcount", args, {});
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : text::decode(s_of(v))) {
    const bool w = text::is_word(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

struct Entry {
  std::string_view name;
  FilterFn fn;
};

constexpr Entry kFilters[] = {
    {"abs", f_abs}, {"attr", f_attr}, {"batch", f_batch}, {"capitalize", f_capitalize},
    {"center", f_center}, {"count", f_length}, {"d", f_default}, {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"first", f_first},
    {"float", f_float}, {"indent", f_indent}, {"int", f_int}, {"items", f_items},
    {"join", f_join}, {"last", f_last}, {"length", f_length}, {"list", f_list},
    {"lower", f_lower}, {"map", f_map}, {"max", f_max}, {"min", f_min}, {"reject", f_reject},
    {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
    {"round", f_round}, {"safe", f_safe}, {"select", f_select}, {"selectattr", f_selectattr},
    {"sort", f_sort}, {"string", f_string}, {"sum", f_sum}, {"title", f_title},
    {"tojson", f_tojson}, {"trim", f_trim}, {"unique", f_unique}, {"upper", f_upper},
    {"wordcount", f_wordcount},
};

}  // namespace

FilterFn find_filter(const std::string& name) {
  for (const auto& e : kFilters) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace mlxcel::templates
