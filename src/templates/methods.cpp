// Methods of str, list and dict that templates call (message.content.strip(), d.items(), ...).
// Mutating list and dict methods are provided too, although Hugging Face's sandbox refuses
// them, because templates written for other runtimes use them with namespaces.
#include <algorithm>

#include "templates/budget.h"
#include "templates/builtins.h"
#include "templates/text.h"

namespace mlxcel::templates {

namespace {

using Method = Value (*)(Interpreter& in, const Value& self, CallArgs& args);

std::optional<std::string> opt_string(const BoundArgs& a, size_t i, const char* fn) {
  if (!a.has(i) || a[i].is_none()) return std::nullopt;
  if (!a[i].is_string()) fail(std::string(fn) + " arg must be None or str");
  return a[i].as_string();
}

int64_t int_arg(const BoundArgs& a, size_t i, int64_t fallback, const char* fn) {
  if (!a.has(i) || a[i].is_none()) return fallback;
  const auto v = as_index(a[i]);
  if (!v) fail(std::string(fn) + "() integer argument expected, got " + a[i].type_name());
  return *v;
}

const std::string& str_arg(const BoundArgs& a, size_t i, const char* fn) {
  if (!a[i].is_string()) fail(std::string(fn) + "() argument must be str, not " + a[i].type_name());
  return a[i].as_string();
}

// Each part of a split becomes a string value of its own: check the count before splitting.
void check_parts(size_t parts) {
  check_list_items(saturating_mul(parts, 4), "the parts of a split string");
}

Value string_list(const std::vector<std::string>& parts) {
  ValueList out;
  for (const auto& p : parts) out.push_back(Value::string(p));
  return Value::list(std::move(out));
}

// ---- str ----
Value s_strip_impl(Interpreter& in, const Value& self, CallArgs& args, const char* name, bool l, bool r) {
  BoundArgs a(name, args, {"chars"});
  return Value::string(text::strip(self.as_string(), opt_string(a, 0, name), l, r));
}
Value s_strip(Interpreter& in, const Value& s, CallArgs& a) { return s_strip_impl(in, s, a, "strip", true, true); }
Value s_lstrip(Interpreter& in, const Value& s, CallArgs& a) { return s_strip_impl(in, s, a, "lstrip", true, false); }
Value s_rstrip(Interpreter& in, const Value& s, CallArgs& a) { return s_strip_impl(in, s, a, "rstrip", false, true); }

Value s_split_impl(Interpreter& in, const Value& self, CallArgs& args, bool reverse) {
  const char* name = reverse ? "rsplit" : "split";
  BoundArgs a(name, args, {"sep", "maxsplit"});
  const auto sep = opt_string(a, 0, name);
  if (sep && sep->empty()) fail("empty separator");
  const int64_t max = int_arg(a, 1, -1, name);
  check_parts(text::split_count(self.as_string(), sep, max));
  return string_list(reverse ? text::rsplit(self.as_string(), sep, max)
                             : text::split(self.as_string(), sep, max));
}
Value s_split(Interpreter& in, const Value& s, CallArgs& a) { return s_split_impl(in, s, a, false); }
Value s_rsplit(Interpreter& in, const Value& s, CallArgs& a) { return s_split_impl(in, s, a, true); }

Value s_splitlines(Interpreter& in, const Value& self, CallArgs& args) {
  BoundArgs a("splitlines", args, {"keepends"});
  check_parts(text::splitlines_count(self.as_string()));
  return string_list(text::splitlines(self.as_string(), a.has(0) && a[0].truthy()));
}

Value s_affix_impl(Interpreter& in, const Value& self, CallArgs& args, bool ends) {
  const char* name = ends ? "endswith" : "startswith";
  BoundArgs a(name, args, {"prefix", "start", "end"});
  if (!a.has(0)) fail(std::string(name) + "() takes at least 1 argument");
  std::string s = self.as_string();
  if (a.has(1) || a.has(2)) {
    const Value whole = self;
    Value b = a.get(1, Value::none()), e = a.get(2, Value::none());
    s = slice(whole, &b, &e, nullptr).as_string();
  }
  auto test = [&](const Value& p) {
    if (!p.is_string()) fail(std::string(name) + " first arg must be str or a tuple of str");
    const std::string& x = p.as_string();
    if (x.size() > s.size()) return false;
    return ends ? s.compare(s.size() - x.size(), x.size(), x) == 0 : s.compare(0, x.size(), x) == 0;
  };
  if (a[0].is_tuple()) {
    return Value::boolean(std::any_of(a[0].items().begin(), a[0].items().end(), test));
  }
  return Value::boolean(test(a[0]));
}
Value s_startswith(Interpreter& in, const Value& s, CallArgs& a) { return s_affix_impl(in, s, a, false); }
Value s_endswith(Interpreter& in, const Value& s, CallArgs& a) { return s_affix_impl(in, s, a, true); }

Value s_upper(Interpreter& in, const Value& s, CallArgs& a) { BoundArgs("upper", a, {}); return Value::string(text::upper(s.as_string())); }
Value s_lower(Interpreter& in, const Value& s, CallArgs& a) { BoundArgs("lower", a, {}); return Value::string(text::lower(s.as_string())); }
Value s_title(Interpreter& in, const Value& s, CallArgs& a) { BoundArgs("title", a, {}); return Value::string(text::title(s.as_string())); }
Value s_capitalize(Interpreter& in, const Value& s, CallArgs& a) { BoundArgs("capitalize", a, {}); return Value::string(text::capitalize(s.as_string())); }
Value s_islower(Interpreter& in, const Value& s, CallArgs& a) { BoundArgs("islower", a, {}); return Value::boolean(text::islower(s.as_string())); }
Value s_isupper(Interpreter& in, const Value& s, CallArgs& a) { BoundArgs("isupper", a, {}); return Value::boolean(text::isupper(s.as_string())); }

template <bool (*Pred)(char32_t)>
Value s_is_all(Interpreter& in, const Value& s, CallArgs& a) {
  BoundArgs("is", a, {});
  const std::u32string cs = text::decode(s.as_string());
  return Value::boolean(!cs.empty() && std::all_of(cs.begin(), cs.end(), Pred));
}
bool cp_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool cp_alpha(char32_t c) { return text::is_word(c) && !cp_digit(c) && c != '_'; }
bool cp_alnum(char32_t c) { return text::is_word(c) && c != '_'; }

Value s_replace(Interpreter& in, const Value& self, CallArgs& args) {
  BoundArgs a("replace", args, {"old", "new", "count"});
  if (!a.has(1)) fail("replace() takes at least 2 arguments");
  const std::string& old = str_arg(a, 0, "replace");
  const std::string& repl = str_arg(a, 1, "replace");
  const int64_t count = int_arg(a, 2, -1, "replace");
  check_string_bytes(text::replaced_size(self.as_string(), old, repl, count), "a replaced string");
  return Value::string(text::replace(self.as_string(), old, repl, count));
}

Value s_find_impl(Interpreter& in, const Value& self, CallArgs& args, bool reverse, bool raise) {
  const char* name = reverse ? (raise ? "rindex" : "rfind") : (raise ? "index" : "find");
  BoundArgs a(name, args, {"sub"});
  const int64_t r = text::find(self.as_string(), str_arg(a, 0, name), reverse);
  if (r < 0 && raise) fail("substring not found");
  return Value::integer(r);
}
Value s_find(Interpreter& in, const Value& s, CallArgs& a) { return s_find_impl(in, s, a, false, false); }
Value s_rfind(Interpreter& in, const Value& s, CallArgs& a) { return s_find_impl(in, s, a, true, false); }
Value s_index(Interpreter& in, const Value& s, CallArgs& a) { return s_find_impl(in, s, a, false, true); }
Value s_rindex(Interpreter& in, const Value& s, CallArgs& a) { return s_find_impl(in, s, a, true, true); }

Value s_count(Interpreter& in, const Value& self, CallArgs& args) {
  BoundArgs a("count", args, {"sub"});
  return Value::integer(text::count(self.as_string(), str_arg(a, 0, "count")));
}

Value s_join(Interpreter& in, const Value& self, CallArgs& args) {
  BoundArgs a("join", args, {"iterable"});
  std::string out;
  bool first = true;
  for (const Value& v : iterate(a[0])) {
    if (!v.is_string()) fail("sequence item: expected str instance, " + v.type_name() + " found");
    if (!first) out += self.as_string();
    first = false;
    out += v.as_string();
    check_string_bytes(out.size(), "a joined string");
  }
  return Value::string(std::move(out));
}

Value s_affix_remove(Interpreter& in, const Value& self, CallArgs& args, bool suffix) {
  BoundArgs a(suffix ? "removesuffix" : "removeprefix", args, {"affix"});
  const std::string& s = self.as_string();
  const std::string& x = str_arg(a, 0, "remove");
  if (x.size() <= s.size()) {
    if (!suffix && s.compare(0, x.size(), x) == 0) return Value::string(s.substr(x.size()));
    if (suffix && s.compare(s.size() - x.size(), x.size(), x) == 0) return Value::string(s.substr(0, s.size() - x.size()));
  }
  return self;
}
Value s_removeprefix(Interpreter& in, const Value& s, CallArgs& a) { return s_affix_remove(in, s, a, false); }
Value s_removesuffix(Interpreter& in, const Value& s, CallArgs& a) { return s_affix_remove(in, s, a, true); }

Value s_pad(Interpreter& in, const Value& self, CallArgs& args, int where) {
  BoundArgs a("pad", args, {"width", "fillchar"});
  const int64_t width = int_arg(a, 0, 0, "pad");
  const std::string fill = a.has(1) ? str_arg(a, 1, "pad") : " ";
  if (text::length(fill) != 1) fail("The fill character must be exactly one character long");
  const auto len = static_cast<int64_t>(text::length(self.as_string()));
  if (width <= len) return self;
  const int64_t total = width - len;
  check_string_bytes(self.as_string().size() + saturating_mul(static_cast<uint64_t>(total), fill.size()),
                     "a padded string");
  // Python's center puts the extra space on the left when len and width are both odd.
  int64_t left = where < 0 ? 0 : (where > 0 ? total : total / 2 + (total & width & 1));
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += self.as_string();
  for (int64_t i = 0; i < total - left; ++i) out += fill;
  return Value::string(std::move(out));
}
Value s_ljust(Interpreter& in, const Value& s, CallArgs& a) { return s_pad(in, s, a, -1); }
Value s_rjust(Interpreter& in, const Value& s, CallArgs& a) { return s_pad(in, s, a, 1); }
Value s_center(Interpreter& in, const Value& s, CallArgs& a) { return s_pad(in, s, a, 0); }

// str.format with {} / {0} / {name} fields (no format specs).
Value s_format(Interpreter& in, const Value& self, CallArgs& args) {
  const std::string& f = self.as_string();
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    if (c == '{' && i + 1 < f.size() && f[i + 1] == '{') {
      out.push_back('{');
      ++i;
    } else if (c == '}' && i + 1 < f.size() && f[i + 1] == '}') {
      out.push_back('}');
      ++i;
    } else if (c == '{') {
      const size_t close = f.find('}', i);
      if (close == std::string::npos) fail("Single '{' encountered in format string");
      const std::string field = f.substr(i + 1, close - i - 1);
      if (field.find_first_of(":!.[") != std::string::npos) fail("format specs are not supported");
      const Value* v = nullptr;
      if (field.empty() || std::all_of(field.begin(), field.end(), ::isdigit)) {
        const size_t idx = field.empty() ? auto_index++ : std::stoul(field);
        if (idx >= args.positional.size()) fail("Replacement index " + std::to_string(idx) + " out of range");
        v = &args.positional[idx];
      } else {
        for (const auto& [k, val] : args.keyword) {
          if (k == field) v = &val;
        }
        if (!v) fail("KeyError: '" + field + "'");
      }
      out += to_str(*v);
      check_string_bytes(out.size(), "a formatted string");
      i = close;
    } else if (c == '}') {
      fail("Single '}' encountered in format string");
    } else {
      out.push_back(c);
    }
  }
  return Value::string(std::move(out));
}

// ---- dict ----
Value d_items(Interpreter& in, const Value& self, CallArgs& a) {
  BoundArgs("items", a, {});
  ValueList out;
  for (const auto& [k, v] : self.as_dict().entries) out.push_back(Value::tuple({k, v}));
  return Value::list(std::move(out));
}
Value d_keys(Interpreter& in, const Value& self, CallArgs& a) {
  BoundArgs("keys", a, {});
  return Value::list(iterate(self));
}
Value d_values(Interpreter& in, const Value& self, CallArgs& a) {
  BoundArgs("values", a, {});
  ValueList out;
  for (const auto& kv : self.as_dict().entries) out.push_back(kv.second);
  return Value::list(std::move(out));
}
Value d_get(Interpreter& in, const Value& self, CallArgs& args) {
  BoundArgs a("get", args, {"key", "default"});
  if (!a.has(0)) fail("get expected at least 1 argument, got 0");
  if (const Value* v = self.as_dict().find(a[0])) return *v;
  return a.get(1, Value::none());
}
Value d_copy(Interpreter& in, const Value& self, CallArgs& a) {
  BoundArgs("copy", a, {});
  return Value::dict(std::make_shared<Dict>(self.as_dict()));
}
Value d_pop(Interpreter& in, const Value& self, CallArgs& args) {
  in.note_mutation(self);
  BoundArgs a("pop", args, {"key", "default"});
  if (const Value* v = self.as_dict().find(a[0])) {
    Value out = *v;
    self.as_dict().erase(a[0]);
    return out;
  }
  if (a.has(1)) return a[1];
  fail("KeyError: " + repr(a[0]));
}
// A dict or list changed in place lives until the render ends (Interpreter::note_mutation), so
// what it grows by is charged until then.
void charge_growth(uint64_t items, size_t item_bytes) {
  charge_until_end(saturating_mul(items, item_bytes), "a container grown in place");
}

Value d_setdefault(Interpreter& in, const Value& self, CallArgs& args) {
  in.note_mutation(self);
  BoundArgs a("setdefault", args, {"key", "default"});
  if (const Value* v = self.as_dict().find(a[0])) return *v;
  charge_growth(1, sizeof(std::pair<Value, Value>));
  self.as_dict().set(a[0], a.get(1, Value::none()));
  return a.get(1, Value::none());
}
Value d_update(Interpreter& in, const Value& self, CallArgs& args) {
  in.note_mutation(self);
  for (const Value& other : args.positional) {
    if (!other.is_dict()) fail("dict.update() needs a mapping");
  }
  for (const Value& other : args.positional) {
    charge_growth(other.as_dict().size(), sizeof(std::pair<Value, Value>));
    for (const auto& [k, v] : other.as_dict().entries) self.as_dict().set(k, v);
  }
  charge_growth(args.keyword.size(), sizeof(std::pair<Value, Value>));
  for (const auto& [k, v] : args.keyword) self.as_dict().set(Value::string(k), v);
  return Value::none();
}

// ---- list ----
Value l_append(Interpreter& in, const Value& self, CallArgs& args) {
  in.note_mutation(self);
  BoundArgs a("append", args, {"object"});
  charge_growth(1, sizeof(Value));
  self.items().push_back(a[0]);
  return Value::none();
}
Value l_extend(Interpreter& in, const Value& self, CallArgs& args) {
  in.note_mutation(self);
  BoundArgs a("extend", args, {"iterable"});
  ValueList more = iterate(a[0]);
  charge_growth(more.size(), sizeof(Value));
  for (Value& v : more) self.items().push_back(std::move(v));
  return Value::none();
}
Value l_insert(Interpreter& in, const Value& self, CallArgs& args) {
  in.note_mutation(self);
  BoundArgs a("insert", args, {"index", "object"});
  auto& items = self.items();
  const auto n = static_cast<int64_t>(items.size());
  int64_t i = int_arg(a, 0, 0, "insert");
  if (i < 0) i = std::max<int64_t>(0, i + n);
  i = std::min(i, n);
  charge_growth(1, sizeof(Value));
  items.insert(items.begin() + i, a[1]);
  return Value::none();
}
Value l_pop(Interpreter& in, const Value& self, CallArgs& args) {
  in.note_mutation(self);
  BoundArgs a("pop", args, {"index"});
  auto& items = self.items();
  if (items.empty()) fail("pop from empty list");
  const auto n = static_cast<int64_t>(items.size());
  int64_t i = int_arg(a, 0, -1, "pop");
  if (i < 0) i += n;
  if (i < 0 || i >= n) fail("pop index out of range");
  Value out = items[static_cast<size_t>(i)];
  items.erase(items.begin() + i);
  return out;
}
Value l_index(Interpreter& in, const Value& self, CallArgs& args) {
  BoundArgs a("index", args, {"value"});
  const auto& items = self.items();
  for (size_t i = 0; i < items.size(); ++i) {
    if (equals(items[i], a[0])) return Value::integer(static_cast<int64_t>(i));
  }
  fail(repr(a[0]) + " is not in list");
}
Value l_count(Interpreter& in, const Value& self, CallArgs& args) {
  BoundArgs a("count", args, {"value"});
  int64_t n = 0;
  for (const Value& v : self.items()) n += equals(v, a[0]) ? 1 : 0;
  return Value::integer(n);
}
Value l_copy(Interpreter& in, const Value& self, CallArgs& a) {
  BoundArgs("copy", a, {});
  return Value::list(self.items());
}

struct Entry {
  const char* name;
  Method fn;
};

constexpr Entry kStringMethods[] = {
    {"strip", s_strip}, {"lstrip", s_lstrip}, {"rstrip", s_rstrip}, {"split", s_split},
    {"rsplit", s_rsplit}, {"splitlines", s_splitlines}, {"startswith", s_startswith},
    {"endswith", s_endswith}, {"upper", s_upper}, {"lower", s_lower}, {"title", s_title},
    {"capitalize", s_capitalize}, {"islower", s_islower}, {"isupper", s_isupper},
    {"isdigit", s_is_all<cp_digit>}, {"isnumeric", s_is_all<cp_digit>},
    {"isdecimal", s_is_all<cp_digit>}, {"isalpha", s_is_all<cp_alpha>},
    {"isalnum", s_is_all<cp_alnum>}, {"isspace", s_is_all<text::is_space>},
    {"replace", s_replace}, {"find", s_find}, {"rfind", s_rfind}, {"index", s_index},
    {"rindex", s_rindex}, {"count", s_count}, {"join", s_join}, {"removeprefix", s_removeprefix},
    {"removesuffix", s_removesuffix}, {"ljust", s_ljust}, {"rjust", s_rjust},
    {"center", s_center}, {"format", s_format},
};
constexpr Entry kDictMethods[] = {
    {"items", d_items}, {"keys", d_keys}, {"values", d_values}, {"get", d_get}, {"copy", d_copy},
    {"pop", d_pop}, {"setdefault", d_setdefault}, {"update", d_update},
};
constexpr Entry kListMethods[] = {
    {"append", l_append}, {"extend", l_extend}, {"insert", l_insert}, {"pop", l_pop},
    {"index", l_index}, {"count", l_count}, {"copy", l_copy},
};
constexpr Entry kTupleMethods[] = {{"index", l_index}, {"count", l_count}};

template <size_t N>
Method lookup(const Entry (&table)[N], const std::string& name) {
  for (const auto& e : table) {
    if (name == e.name) return e.fn;
  }
  return nullptr;
}

}  // namespace

Value get_method(const Value& self, const std::string& name) {
  Method fn = nullptr;
  if (self.is_string()) fn = lookup(kStringMethods, name);
  else if (self.is_dict()) fn = lookup(kDictMethods, name);
  else if (self.is_list()) fn = lookup(kListMethods, name);
  else if (self.is_tuple()) fn = lookup(kTupleMethods, name);
  if (!fn) return Value::undefined();
  const std::string label = self.type_name() + "." + name;
  // Markup methods return Markup; keep plain str semantics for the receiver's copy.
  Value receiver = self.is_markup() ? Value::string(self.as_string()) : self;
  return Value::callable(label, [fn, receiver](Interpreter& in, CallArgs& args) { return fn(in, receiver, args); });
}

}  // namespace mlxcel::templates
