#include "templates/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "templates/budget.h"
#include "templates/text.h"

namespace mlxcel::templates {

void fail(std::string message) { throw RenderFailure{std::move(message), false}; }

void fail_limit(const char* limit, std::string message) {
  throw RenderFailure{std::move(message), false, limit};
}

void fail_undefined(const Value& v) {
  const std::string& hint = v.is_undefined() ? v.undefined_hint() : std::string();
  throw RenderFailure{hint.empty() ? std::string("value is undefined") : hint, true};
}

Value Object::get_attr(const std::string&) const { return Value::undefined(); }
bool Object::set_attr(const std::string&, const Value&) { return false; }
std::string Object::repr() const { return "<" + type_name() + " object>"; }

namespace {

const std::shared_ptr<const std::string>& empty_string() {
  static const auto s = std::make_shared<const std::string>();
  return s;
}

// What a value's allocation costs besides its payload: control block, box, allocator slack.
constexpr uint64_t kBoxBytes = 64;

// The values a render creates carry a Charge (budget.h) next to their payload, in one box the
// Value's shared_ptr aliases. Lists and dicts free their items through release_values, so
// destroying a deeply nested value does not recurse.
struct StringBox {
  StringBox(std::string s, uint64_t bytes) : text(std::move(s)), charge(bytes, "a string") {}
  std::string text;
  Charge charge;
};

struct ListBox {
  ListBox(ValueList v, uint64_t bytes) : items(std::move(v)), charge(bytes, "a list") {}
  ~ListBox() { release_values(items); }
  ValueList items;
  Charge charge;
};

// A charge for an object made elsewhere (dicts, callables, namespaces).
struct ChargedOwner {
  ChargedOwner(std::shared_ptr<const void> o, uint64_t bytes, const char* what)
      : owner(std::move(o)), charge(bytes, what) {}
  std::shared_ptr<const void> owner;
  Charge charge;
};

template <typename T>
std::shared_ptr<T> charged(std::shared_ptr<T> p, uint64_t bytes, const char* what) {
  if (!current_budget()) return p;
  T* raw = p.get();
  auto box = std::make_shared<ChargedOwner>(std::move(p), bytes, what);
  return std::shared_ptr<T>(box, raw);
}

std::shared_ptr<const std::string> make_string(std::string s) {
  if (s.empty()) return empty_string();
  if (!current_budget()) return std::make_shared<const std::string>(std::move(s));
  check_string_bytes(s.size(), "a string");
  const uint64_t bytes = kBoxBytes + s.capacity();
  auto box = std::make_shared<StringBox>(std::move(s), bytes);
  return std::shared_ptr<const std::string>(box, &box->text);
}

// Values that may keep other values alive (and so could nest without bound).
bool holds_values(const Value& v) {
  switch (v.kind()) {
    case Kind::List:
    case Kind::Tuple:
    case Kind::Dict:
    case Kind::Callable:
    case Kind::Object: return true;
    default: return false;
  }
}

// The values waiting to be destroyed by the release_values loop running on this thread.
thread_local ValueList* t_graveyard = nullptr;

void bury(ValueList& graveyard, Value& v) noexcept {
  if (!holds_values(v)) return;
  try {
    graveyard.push_back(std::move(v));
  } catch (...) {
    // Out of memory: v is freed where it is, recursively.
  }
}

// Destroys the graveyard's values one at a time; the ones that were the last owner of a list or
// dict add that container's values instead of destroying them recursively.
void drain(ValueList& graveyard) noexcept {
  t_graveyard = &graveyard;
  while (!graveyard.empty()) {
    Value last = std::move(graveyard.back());
    graveyard.pop_back();
  }
  t_graveyard = nullptr;
}

}  // namespace

void release_values(ValueList& items) noexcept {
  if (ValueList* g = t_graveyard) {
    for (Value& v : items) bury(*g, v);
    items.clear();
    return;
  }
  ValueList graveyard;
  for (Value& v : items) bury(graveyard, v);
  items.clear();
  drain(graveyard);
}

Dict::~Dict() {
  if (ValueList* g = t_graveyard) {
    for (auto& [k, v] : entries) {
      bury(*g, k);
      bury(*g, v);
    }
    return;
  }
  ValueList graveyard;
  for (auto& [k, v] : entries) {
    bury(graveyard, k);
    bury(graveyard, v);
  }
  entries.clear();
  drain(graveyard);
}

Value Value::undefined(std::string hint) {
  Value v;
  v.data_ = make_string(std::move(hint));
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.data_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.data_ = i;
  return v;
}
Value Value::floating(double d) {
  Value v;
  v.kind_ = Kind::Float;
  v.data_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::String;
  v.data_ = make_string(std::move(s));
  return v;
}
Value Value::markup(std::string s) {
  Value v = string(std::move(s));
  v.markup_ = true;
  return v;
}
Value Value::list(ValueList items) {
  Value v;
  v.kind_ = Kind::List;
  const uint64_t bytes = kBoxBytes + saturating_mul(items.capacity(), sizeof(Value));
  auto box = std::make_shared<ListBox>(std::move(items), bytes);
  v.data_ = std::shared_ptr<ValueList>(box, &box->items);
  return v;
}
Value Value::tuple(ValueList items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::Tuple;
  return v;
}
Value Value::dict() { return dict(std::make_shared<Dict>()); }
Value Value::dict(std::shared_ptr<Dict> d) {
  Value v;
  v.kind_ = Kind::Dict;
  const uint64_t bytes =
      2 * kBoxBytes + saturating_mul(d->entries.capacity(), sizeof(std::pair<Value, Value>));
  v.data_ = charged(std::move(d), bytes, "a dict");
  return v;
}
Value Value::callable(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn) {
  Value v;
  v.kind_ = Kind::Callable;
  const uint64_t bytes = 3 * kBoxBytes + sizeof(Callable) + name.size();
  v.data_ = charged(std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)}),
                    bytes, "a function");
  return v;
}
Value Value::object(std::shared_ptr<Object> o) {
  Value v;
  v.kind_ = Kind::Object;
  v.data_ = charged(std::move(o), 4 * kBoxBytes, "an object");
  return v;
}

double Value::as_double() const {
  switch (kind_) {
    case Kind::Bool: return as_bool() ? 1.0 : 0.0;
    case Kind::Int: return static_cast<double>(as_int());
    case Kind::Float: return as_float();
    default: return 0.0;
  }
}

const std::string& Value::as_string() const {
  return *std::get<std::shared_ptr<const std::string>>(data_);
}

const std::string& Value::undefined_hint() const {
  if (const auto* p = std::get_if<std::shared_ptr<const std::string>>(&data_)) return **p;
  return *empty_string();
}

const void* Value::identity() const {
  return std::visit(
      [](const auto& x) -> const void* {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate> || std::is_same_v<T, bool> ||
                      std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
          return nullptr;
        } else {
          return x.get();
        }
      },
      data_);
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return as_bool();
    case Kind::Int: return as_int() != 0;
    case Kind::Float: return as_float() != 0.0;
    case Kind::String: return !as_string().empty();
    case Kind::List:
    case Kind::Tuple: return !items().empty();
    case Kind::Dict: return as_dict().size() != 0;
    case Kind::Callable:
    case Kind::Object: return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return is_markup() ? "Markup" : "str";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Callable: return "function";
    case Kind::Object: return as_object().type_name();
  }
  return "object";
}

const Value* Dict::find(const Value& key) const {
  tick_work(entries.size());
  for (const auto& [k, v] : entries) {
    if (equals(k, key)) return &v;
  }
  return nullptr;
}

const Value* Dict::find(const std::string& key) const {
  tick_work(entries.size());
  for (const auto& [k, v] : entries) {
    if (k.is_string() && k.as_string() == key) return &v;
  }
  return nullptr;
}

void Dict::set(const Value& key, Value value) {
  tick_work(entries.size());
  for (auto& [k, v] : entries) {
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(key, std::move(value));
}

bool Dict::erase(const Value& key) {
  tick_work(entries.size());
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (equals(it->first, key)) {
      entries.erase(it);
      return true;
    }
  }
  return false;
}

Value Namespace::get_attr(const std::string& name) const {
  if (const Value* v = attrs.find(name)) return *v;
  return Value::undefined("'" + type_name() + " object' has no attribute '" + name + "'");
}

bool Namespace::set_attr(const std::string& name, const Value& value) {
  // Namespaces assigned to live until the render ends (Interpreter::note_mutation).
  if (!attrs.find(name)) charge_until_end(sizeof(std::pair<Value, Value>) + name.size(), "a namespace");
  attrs.set(Value::string(name), value);
  return true;
}

namespace {
void print_dict(std::string& out, const Dict& d, const void* id);
}  // namespace

std::string Namespace::repr() const {
  std::string out = "<Namespace ";
  print_dict(out, attrs, &attrs);
  return out + ">";
}

namespace {

// Exact comparison of an int with a float, as Python does (no rounding of the int).
int compare_int_float(int64_t i, double d) {
  if (std::isnan(d)) return 2;  // unordered
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  const double fl = std::floor(d);
  const auto di = static_cast<int64_t>(fl);
  if (i < di) return -1;
  if (i > di) return 1;
  return fl == d ? 0 : -1;
}

// -1, 0, 1, or 2 for unordered (nan).
int compare_numbers(const Value& a, const Value& b) {
  const bool af = a.is_float(), bf = b.is_float();
  if (!af && !bf) {
    const int64_t x = a.is_bool() ? a.as_bool() : a.as_int();
    const int64_t y = b.is_bool() ? b.as_bool() : b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (af && bf) {
    const double x = a.as_float(), y = b.as_float();
    if (std::isnan(x) || std::isnan(y)) return 2;
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (af) {
    const int c = compare_int_float(b.is_bool() ? b.as_bool() : b.as_int(), a.as_float());
    return c == 2 ? 2 : -c;
  }
  return compare_int_float(a.is_bool() ? a.as_bool() : a.as_int(), b.as_float());
}

}  // namespace

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::String: return a.as_string() == b.as_string();
    case Kind::List:
    case Kind::Tuple: {
      if (a.identity() == b.identity()) return true;
      const auto& x = a.items();
      const auto& y = b.items();
      if (x.size() != y.size()) return false;
      WalkGuard guard("comparing");
      tick_work(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case Kind::Dict: {
      if (a.identity() == b.identity()) return true;
      const auto& x = a.as_dict();
      const auto& y = b.as_dict();
      if (x.size() != y.size()) return false;
      WalkGuard guard("comparing");
      for (const auto& [k, v] : x.entries) {
        const Value* other = y.find(k);
        if (!other || !equals(v, *other)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity();
  }
}

bool less_than(const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == -1;
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
    WalkGuard guard("comparing");
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  fail("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() +
       "'");
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci is "[-]d[.ddd]e[+-]XX": split into sign, digits and decimal exponent.
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::stoi(sci.substr(e + 1));
  const int decpt = exp10 + 1;  // position of the decimal point after the first digit group
  std::string out = sign;
  if (decpt > 16 || decpt < -3) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += ebuf;
  } else if (decpt <= 0) {
    out += "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
  } else if (static_cast<size_t>(decpt) >= digits.size()) {
    out += digits + std::string(static_cast<size_t>(decpt) - digits.size(), '0') + ".0";
  } else {
    out += digits.substr(0, static_cast<size_t>(decpt)) + "." +
           digits.substr(static_cast<size_t>(decpt));
  }
  return out;
}

namespace {

// The containers being printed on this thread, innermost last: one met again is inside itself
// and prints as [...] or {...}, as Python's reprs do.
thread_local std::vector<const void*> t_printing;

class Printing {
 public:
  explicit Printing(const void* id) { t_printing.push_back(id); }
  ~Printing() { t_printing.pop_back(); }
  Printing(const Printing&) = delete;
  Printing& operator=(const Printing&) = delete;
  static bool open(const void* id) {
    return std::find(t_printing.begin(), t_printing.end(), id) != t_printing.end();
  }
};

void print(std::string& out, const Value& v, bool quoted);

void print_items(std::string& out, const Value& v) {
  const bool tuple = v.is_tuple();
  if (Printing::open(v.identity())) {
    out += tuple ? "(...)" : "[...]";
    return;
  }
  WalkGuard guard("printing");
  Printing printing(v.identity());
  out += tuple ? "(" : "[";
  const auto& items = v.items();
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    print(out, items[i], true);
    check_string_bytes(out.size(), "a printed list");
  }
  if (tuple && items.size() == 1) out += ",";
  out += tuple ? ")" : "]";
}

void print_dict(std::string& out, const Dict& d, const void* id) {
  if (Printing::open(id)) {
    out += "{...}";
    return;
  }
  WalkGuard guard("printing");
  Printing printing(id);
  out += "{";
  bool first = true;
  for (const auto& [k, val] : d.entries) {
    if (!first) out += ", ";
    first = false;
    print(out, k, true);
    out += ": ";
    print(out, val, true);
    check_string_bytes(out.size(), "a printed dict");
  }
  out += "}";
}

void print(std::string& out, const Value& v, bool quoted) {
  switch (v.kind()) {
    case Kind::Undefined: out += quoted ? "Undefined" : ""; return;
    case Kind::None: out += "None"; return;
    case Kind::Bool: out += v.as_bool() ? "True" : "False"; return;
    case Kind::Int: out += std::to_string(v.as_int()); return;
    case Kind::Float: out += float_repr(v.as_float()); return;
    case Kind::String:
      if (!quoted) {
        out += v.as_string();
      } else if (v.is_markup()) {
        out += "Markup(" + text::string_repr(v.as_string()) + ")";
      } else {
        out += text::string_repr(v.as_string());
      }
      return;
    case Kind::List:
    case Kind::Tuple: print_items(out, v); return;
    case Kind::Dict: print_dict(out, v.as_dict(), v.identity()); return;
    case Kind::Callable: out += "<function " + v.as_callable().name + ">"; return;
    case Kind::Object: {
      WalkGuard guard("printing");
      out += v.as_object().repr();
      return;
    }
  }
}

}  // namespace

std::string to_str(const Value& v) {
  if (v.is_string()) return v.as_string();
  std::string out;
  print(out, v, false);
  return out;
}

std::string repr(const Value& v) {
  std::string out;
  print(out, v, true);
  return out;
}

}  // namespace mlxcel::templates
