// Internal interfaces between the interpreter and the builtin filters, tests, methods, globals
// and Python-style operators.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "templates/ast.h"
#include "templates/interpreter.h"
#include "templates/value.h"

namespace mlxcel::templates {

using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);
using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);

// nullptr when there is no such filter / test.
FilterFn find_filter(const std::string& name);
TestFn find_test(const std::string& name);

// A method of a str, list or dict bound to self (e.g. "abc".upper); undefined if none.
Value get_method(const Value& self, const std::string& name);

// range, dict, namespace, raise_exception, strftime_now.
void install_globals(Frame& frame);

// Python's binary operators on values (+ follows markupsafe for Markup strings).
Value binary_op(BinaryOp op, const Value& a, const Value& b);
Value negate(const Value& v);
// `item in container`.
bool contains(const Value& container, const Value& item);
// What `for x in v` visits: list items, dict keys, characters; nothing for undefined.
ValueList iterate(const Value& v);
// v[start:stop:step] for lists, tuples and strings (null members are absent bounds).
Value slice(const Value& v, const Value* start, const Value* stop, const Value* step);
// Python's printf-style `format % args` (tuple: positional; dict: %(name)s; else one value).
Value percent_format(const Value& format, const Value& args);
// Python int() of an index-like value (int or bool), else nullopt.
std::optional<int64_t> as_index(const Value& v);
// text::html_escape, failing first when the result would be over the limits.
std::string html_escape_checked(std::string_view s);

struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // nullopt: one line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
// Python json.dumps.
std::string json_dumps(const Value& v, const JsonOptions& options);

// Binds call arguments to parameter names like a Python signature with defaults.
class BoundArgs {
 public:
  BoundArgs(const std::string& function, CallArgs& args, std::initializer_list<const char*> names);
  bool has(size_t i) const { return given_[i]; }
  const Value& operator[](size_t i) const { return values_[i]; }
  Value get(size_t i, Value fallback) const { return given_[i] ? values_[i] : fallback; }

 private:
  std::vector<Value> values_;
  std::vector<bool> given_;
};

}  // namespace mlxcel::templates
