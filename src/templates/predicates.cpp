// Jinja's tests (`x is defined`, `x is divisibleby 3`, ...).
#include <string_view>

#include "templates/builtins.h"
#include "templates/text.h"

namespace mlxcel::templates {

namespace {

const Value& one_arg(const char* name, CallArgs& args, BoundArgs& bound) {
  if (!bound.has(0)) fail(std::string(name) + "() missing 1 required positional argument");
  return bound[0];
}

bool mod_is(const Value& v, const Value& m, int64_t want) {
  const Value r = binary_op(BinaryOp::Mod, v, m);
  return equals(r, Value::integer(want));
}

bool t_defined(Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); }
bool t_false(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool t_true(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool t_integer(Interpreter&, const Value& v, CallArgs&) { return v.is_int(); }
bool t_float(Interpreter&, const Value& v, CallArgs&) { return v.is_float(); }
bool t_number(Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }
bool t_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, CallArgs&) { return v.is_dict(); }
// Python: len() and __getitem__ both exist (Jinja's Undefined has both).
bool t_sequence(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
}
bool t_iterable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
}
bool t_callable(Interpreter&, const Value& v, CallArgs&) { return v.is_callable() || v.is_undefined(); }
bool t_escaped(Interpreter&, const Value& v, CallArgs&) { return v.is_markup(); }
bool t_lower(Interpreter&, const Value& v, CallArgs&) { return text::islower(to_str(v)); }
bool t_upper(Interpreter&, const Value& v, CallArgs&) { return text::isupper(to_str(v)); }
bool t_odd(Interpreter&, const Value& v, CallArgs&) { return mod_is(v, Value::integer(2), 1); }
bool t_even(Interpreter&, const Value& v, CallArgs&) { return mod_is(v, Value::integer(2), 0); }

bool t_divisibleby(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("divisibleby", args, {"num"});
  return mod_is(v, one_arg("divisibleby", args, a), 0);
}

bool t_sameas(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("sameas", args, {"other"});
  const Value& o = one_arg("sameas", args, a);
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Kind::None:
    case Kind::Undefined: return v.is_none() || v.identity() == o.identity();
    case Kind::Bool: return v.as_bool() == o.as_bool();
    // CPython caches small ints, so `1 is 1` holds; bigger ones are separate objects.
    case Kind::Int: return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    default: return v.identity() == o.identity();
  }
}

template <CompareOp Op>
bool t_compare(Interpreter&, const Value& v, CallArgs& args) {
  BoundArgs a("compare", args, {"other"});
  const Value& o = one_arg("compare", args, a);
  switch (Op) {
    case CompareOp::Eq: return equals(v, o);
    case CompareOp::Ne: return !equals(v, o);
    case CompareOp::Lt: return less_than(v, o);
    case CompareOp::Le: return less_than(v, o) || equals(v, o);
    case CompareOp::Gt: return less_than(o, v);
    case CompareOp::Ge: return less_than(o, v) || equals(v, o);
    case CompareOp::In: return contains(o, v);
    case CompareOp::NotIn: return !contains(o, v);
  }
  return false;
}

bool t_filter(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}
bool t_test(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

struct Entry {
  std::string_view name;
  TestFn fn;
};

constexpr Entry kTests[] = {
    {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none},
    {"boolean", t_boolean}, {"false", t_false}, {"true", t_true}, {"integer", t_integer},
    {"float", t_float}, {"number", t_number}, {"string", t_string}, {"mapping", t_mapping},
    {"sequence", t_sequence}, {"iterable", t_iterable}, {"callable", t_callable},
    {"escaped", t_escaped}, {"lower", t_lower}, {"upper", t_upper}, {"odd", t_odd},
    {"even", t_even}, {"divisibleby", t_divisibleby}, {"sameas", t_sameas},
    {"eq", t_compare<CompareOp::Eq>}, {"equalto", t_compare<CompareOp::Eq>},
    {"==", t_compare<CompareOp::Eq>}, {"ne", t_compare<CompareOp::Ne>},
    {"!=", t_compare<CompareOp::Ne>}, {"lt", t_compare<CompareOp::Lt>},
    {"lessthan", t_compare<CompareOp::Lt>}, {"<", t_compare<CompareOp::Lt>},
    {"le", t_compare<CompareOp::Le>}, {"<=", t_compare<CompareOp::Le>},
    {"gt", t_compare<CompareOp::Gt>}, {"greaterthan", t_compare<CompareOp::Gt>},
    {">", t_compare<CompareOp::Gt>}, {"ge", t_compare<CompareOp::Ge>},
    {">=", t_compare<CompareOp::Ge>}, {"in", t_compare<CompareOp::In>},
    {"filter", t_filter}, {"test", t_test},
};

}  // namespace

TestFn find_test(const std::string& name) {
  for (const auto& e : kTests) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace mlxcel::templates
