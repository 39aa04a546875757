// Python semantics of the operators, iteration, membership and slicing.
#include <cmath>

#include "templates/budget.h"
#include "templates/builtins.h"
#include "templates/text.h"

namespace mlxcel::templates {

namespace {

int64_t int_of(const Value& v) { return v.is_bool() ? (v.as_bool() ? 1 : 0) : v.as_int(); }

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  fail(std::string("unsupported operand type(s) for ") + op + ": '" + a.type_name() + "' and '" +
       b.type_name() + "'");
}

void check_overflow(bool overflow) {
  if (overflow) fail("integer result does not fit in 64 bits");
}

// Python's float divmod: floor division and a modulo with the sign of the divisor.
void float_divmod(double x, double y, double& div, double& mod) {
  if (y == 0) fail("float division by zero");
  mod = std::fmod(x, y);
  div = (x - mod) / y;
  if (mod != 0) {
    if ((y < 0) != (mod < 0)) {
      mod += y;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, y);
  }
  if (div != 0) {
    const double fl = std::floor(div);
    div = (div - fl > 0.5) ? fl + 1.0 : fl;
  } else {
    div = std::copysign(0.0, x / y);
  }
}

Value repeat(const Value& seq, int64_t times) {
  if (times <= 0) return seq.is_string() ? (seq.is_markup() ? Value::markup("") : Value::string("")) : (seq.is_tuple() ? Value::tuple({}) : Value::list());
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    check_string_bytes(saturating_mul(s.size(), static_cast<uint64_t>(times)), "a repeated string");
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += s;
    return seq.is_markup() ? Value::markup(std::move(out)) : Value::string(std::move(out));
  }
  const auto& items = seq.items();
  check_list_items(saturating_mul(items.size(), static_cast<uint64_t>(times)), "a repeated list");
  ValueList out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

}  // namespace

std::string html_escape_checked(std::string_view s) {
  check_string_bytes(text::html_escaped_size(s), "an escaped string");
  return text::html_escape(s);
}

std::optional<int64_t> as_index(const Value& v) {
  if (v.is_int()) return v.as_int();
  if (v.is_bool()) return v.as_bool() ? 1 : 0;
  return std::nullopt;
}

Value negate(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_float()) return Value::floating(-v.as_float());
  if (v.is_int() || v.is_bool()) {
    int64_t r;
    return Value::integer((check_overflow(__builtin_sub_overflow(int64_t{0}, int_of(v), &r)), r));
  }
  fail("bad operand type for unary -: '" + v.type_name() + "'");
}

Value binary_op(BinaryOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (op == BinaryOp::Mod && a.is_string()) return percent_format(a, b);
  const bool nums = a.is_number() && b.is_number();
  const bool ints = nums && !a.is_float() && !b.is_float();
  switch (op) {
    case BinaryOp::Add: {
      int64_t r;
      if (ints) return Value::integer((check_overflow(__builtin_add_overflow(int_of(a), int_of(b), &r)), r));
      if (nums) return Value::floating(a.as_double() + b.as_double());
      if (a.is_string() && b.is_string()) {
        check_string_bytes(a.as_string().size() + b.as_string().size(), "a + concatenation");
        // markupsafe: joining a Markup and a plain str escapes the plain one.
        if (a.is_markup()) return Value::markup(a.as_string() + (b.is_markup() ? b.as_string() : html_escape_checked(b.as_string())));
        if (b.is_markup()) return Value::markup(html_escape_checked(a.as_string()) + b.as_string());
        return Value::string(a.as_string() + b.as_string());
      }
      if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
        check_list_items(a.items().size() + b.items().size(), "a + concatenation");
        ValueList out = a.items();
        out.insert(out.end(), b.items().begin(), b.items().end());
        return a.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
      }
      if (a.is_string()) fail("can only concatenate str (not \"" + b.type_name() + "\") to str");
      if (a.is_list()) fail("can only concatenate list (not \"" + b.type_name() + "\") to list");
      unsupported("+", a, b);
    }
    case BinaryOp::Sub: {
      int64_t r;
      if (ints) return Value::integer((check_overflow(__builtin_sub_overflow(int_of(a), int_of(b), &r)), r));
      if (nums) return Value::floating(a.as_double() - b.as_double());
      unsupported("-", a, b);
    }
    case BinaryOp::Mul: {
      int64_t r;
      if (ints) return Value::integer((check_overflow(__builtin_mul_overflow(int_of(a), int_of(b), &r)), r));
      if (nums) return Value::floating(a.as_double() * b.as_double());
      const bool a_seq = a.is_string() || a.is_sequence();
      const bool b_seq = b.is_string() || b.is_sequence();
      if (a_seq && (b.is_int() || b.is_bool())) return repeat(a, int_of(b));
      if (b_seq && (a.is_int() || a.is_bool())) return repeat(b, int_of(a));
      fail("can't multiply sequence by non-int of type '" + (a_seq ? b : a).type_name() + "'");
    }
    case BinaryOp::Div: {
      if (!nums) unsupported("/", a, b);
      if (b.as_double() == 0) fail("division by zero");
      return Value::floating(a.as_double() / b.as_double());
    }
    case BinaryOp::FloorDiv:
    case BinaryOp::Mod: {
      if (!nums) unsupported(op == BinaryOp::Mod ? "%" : "//", a, b);
      if (ints) {
        const int64_t x = int_of(a), y = int_of(b);
        if (y == 0) fail("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) fail("integer result does not fit in 64 bits");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          m += y;
          q -= 1;
        }
        return Value::integer(op == BinaryOp::Mod ? m : q);
      }
      double div, mod;
      float_divmod(a.as_double(), b.as_double(), div, mod);
      return Value::floating(op == BinaryOp::Mod ? mod : div);
    }
    case BinaryOp::Pow: {
      if (!nums) unsupported("** or pow()", a, b);
      if (ints && int_of(b) >= 0) {
        int64_t base = int_of(a), exp = int_of(b), r = 1;
        while (exp > 0) {
          if (exp & 1) r = (check_overflow(__builtin_mul_overflow(r, base, &r)), r);
          exp >>= 1;
          if (exp > 0) base = (check_overflow(__builtin_mul_overflow(base, base, &base)), base);
        }
        return Value::integer(r);
      }
      if (a.as_double() == 0 && b.as_double() < 0) fail("0.0 cannot be raised to a negative power");
      return Value::floating(std::pow(a.as_double(), b.as_double()));
    }
  }
  fail("unknown operator");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::Undefined: return false;
    case Kind::String:
      if (!item.is_string()) {
        fail("'in <string>' requires string as left operand, not " + item.type_name());
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Kind::List:
    case Kind::Tuple:
      tick_work(container.items().size());
      for (const Value& v : container.items()) {
        if (equals(v, item)) return true;
      }
      return false;
    case Kind::Dict:
      if (item.is_list() || item.is_dict()) fail("unhashable type: '" + item.type_name() + "'");
      return container.as_dict().find(item) != nullptr;
    default: fail("argument of type '" + container.type_name() + "' is not iterable");
  }
}

ValueList iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return {};
    case Kind::List:
    case Kind::Tuple:
      check_list_items(v.items().size(), "a copy of a list");
      return v.items();
    case Kind::Dict: {
      check_list_items(v.as_dict().size(), "the keys of a dict");
      ValueList keys;
      for (const auto& kv : v.as_dict().entries) keys.push_back(kv.first);
      return keys;
    }
    case Kind::String: {
      check_list_items(text::length(v.as_string()), "the characters of a string");
      ValueList chars;
      for (char32_t c : text::decode(v.as_string())) {
        std::string s;
        text::append_utf8(s, c);
        chars.push_back(Value::string(std::move(s)));
      }
      return chars;
    }
    default: fail("'" + v.type_name() + "' object is not iterable");
  }
}

Value slice(const Value& v, const Value* start, const Value* stop, const Value* step) {
  auto bound = [](const Value* b) -> std::optional<int64_t> {
    if (!b || b->is_none()) return std::nullopt;
    const auto i = as_index(*b);
    if (!i) fail("slice indices must be integers or None");
    return i;
  };
  const std::optional<int64_t> st = bound(step);
  const int64_t s = st.value_or(1);
  if (s == 0) fail("slice step cannot be zero");
  std::u32string chars;
  const bool is_str = v.is_string();
  if (is_str) chars = text::decode(v.as_string());
  const int64_t n = is_str ? static_cast<int64_t>(chars.size()) : static_cast<int64_t>(v.items().size());
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> x, int64_t dflt) {
    if (!x) return dflt;
    int64_t i = *x;
    if (i < 0) {
      i += n;
      if (i < 0) i = s < 0 ? -1 : 0;
    } else if (i >= n) {
      i = s < 0 ? n - 1 : n;
    }
    return i;
  };
  const int64_t b = adjust(bound(start), s < 0 ? n - 1 : 0);
  const int64_t e = adjust(bound(stop), s < 0 ? -1 : n);
  std::u32string out_chars;
  ValueList out_items;
  for (int64_t i = b; s > 0 ? i < e : i > e; i += s) {
    if (is_str) {
      out_chars.push_back(chars[static_cast<size_t>(i)]);
    } else {
      out_items.push_back(v.items()[static_cast<size_t>(i)]);
    }
  }
  if (is_str) return Value::string(text::encode(out_chars));
  return v.is_tuple() ? Value::tuple(std::move(out_items)) : Value::list(std::move(out_items));
}

BoundArgs::BoundArgs(const std::string& function, CallArgs& args,
                     std::initializer_list<const char*> names)
    : values_(names.size()), given_(names.size(), false) {
  if (args.positional.size() > names.size()) {
    fail(function + "() takes at most " + std::to_string(names.size()) + " argument(s) (" +
         std::to_string(args.positional.size()) + " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    values_[i] = args.positional[i];
    given_[i] = true;
  }
  for (auto& [key, value] : args.keyword) {
    size_t i = 0;
    for (const char* n : names) {
      if (key == n) break;
      ++i;
    }
    if (i == names.size()) fail(function + "() got an unexpected keyword argument '" + key + "'");
    if (given_[i]) fail(function + "() got multiple values for argument '" + key + "'");
    values_[i] = value;
    given_[i] = true;
  }
}

}  // namespace mlxcel::templates
