// Global functions: Jinja's range, dict and namespace, and the two Hugging Face adds,
// raise_exception and strftime_now.
#include <ctime>

#include "templates/budget.h"
#include "templates/builtins.h"
#include "templates/errors.h"

namespace mlxcel::templates {

namespace {

// Jinja's sandbox refuses longer ranges.
constexpr int64_t kMaxRange = 100000;

Value g_range(Interpreter& in, CallArgs& args) {
  if (!args.keyword.empty()) fail("range() takes no keyword arguments");
  std::vector<int64_t> v;
  for (const Value& a : args.positional) {
    const auto i = as_index(a);
    if (!i) fail("'" + a.type_name() + "' object cannot be interpreted as an integer");
    v.push_back(*i);
  }
  int64_t start = 0, stop = 0, step = 1;
  if (v.size() == 1) {
    stop = v[0];
  } else if (v.size() == 2 || v.size() == 3) {
    start = v[0];
    stop = v[1];
    if (v.size() == 3) step = v[2];
  } else {
    fail("range expected 1 to 3 arguments, got " + std::to_string(v.size()));
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  ValueList out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange) {
      fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    out.push_back(Value::integer(i));
    if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
  }
  in.count_iterations(out.size() / 16);
  return Value::list(std::move(out));
}

void merge_mapping(Dict& into, const Value& v, const char* fn) {
  if (v.is_dict()) {
    for (const auto& [k, val] : v.as_dict().entries) into.set(k, val);
    return;
  }
  for (const Value& pair : iterate(v)) {
    const ValueList kv = iterate(pair);
    if (kv.size() != 2) fail(std::string(fn) + "(): sequence elements must have length 2");
    into.set(kv[0], kv[1]);
  }
}

Value g_dict(Interpreter&, CallArgs& args) {
  if (args.positional.size() > 1) fail("dict expected at most 1 argument");
  auto d = std::make_shared<Dict>();
  if (!args.positional.empty()) merge_mapping(*d, args.positional[0], "dict");
  for (const auto& [k, v] : args.keyword) d->set(Value::string(k), v);
  return Value::dict(std::move(d));
}

Value g_namespace(Interpreter&, CallArgs& args) {
  auto ns = std::make_shared<Namespace>();
  for (const Value& p : args.positional) merge_mapping(ns->attrs, p, "namespace");
  for (const auto& [k, v] : args.keyword) ns->attrs.set(Value::string(k), v);
  return Value::object(std::move(ns));
}

Value g_raise_exception(Interpreter&, CallArgs& args) {
  BoundArgs a("raise_exception", args, {"message"});
  throw TemplateRaised(to_str(a[0]));
}

// datetime.strftime on a naive local time: %z and %Z are empty, %f is microseconds (zero here
// since the clock has whole seconds); everything else is the C library's strftime.
Value g_strftime_now(Interpreter& in, CallArgs& args) {
  BoundArgs a("strftime_now", args, {"format"});
  if (!a[0].is_string()) fail("strftime_now() argument must be str");
  const std::string& fmt = a[0].as_string();
  std::string cfmt;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] == '%' && i + 1 < fmt.size()) {
      const char c = fmt[i + 1];
      if (c == 'z' || c == 'Z') {
        ++i;
        continue;
      }
      if (c == 'f') {
        cfmt += "000000";
        ++i;
        continue;
      }
      cfmt += fmt[i];
      cfmt += fmt[++i];
    } else {
      cfmt += fmt[i];
    }
  }
  std::tm tm{};
  if (in.options().now) {
    tm = in.options().now();
  } else {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &tm);
  }
  if (cfmt.empty()) return Value::string("");
  check_string_bytes(256 + saturating_mul(cfmt.size(), 8), "strftime_now's buffer");
  std::string out(256 + cfmt.size() * 8, '\0');
  const size_t n = std::strftime(out.data(), out.size(), cfmt.c_str(), &tm);
  out.resize(n);
  return Value::string(std::move(out));
}

}  // namespace

void install_globals(Frame& frame) {
  frame.vars["range"] = Value::callable("range", g_range);
  frame.vars["dict"] = Value::callable("dict", g_dict);
  frame.vars["namespace"] = Value::callable("namespace", g_namespace);
  frame.vars["raise_exception"] = Value::callable("raise_exception", g_raise_exception);
  frame.vars["strftime_now"] = Value::callable("strftime_now", g_strftime_now);
}

}  // namespace mlxcel::templates
