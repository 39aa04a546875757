// The values a chat template computes with. They follow Python's data model as Jinja sees it:
// lists and dicts are shared by reference, dicts keep insertion order, numbers print like Python,
// and "undefined" is a value of its own (renders empty, is falsy, fails when looked into).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mlxcel::templates {

class Value;
class Interpreter;

using ValueList = std::vector<Value>;

// Positional and keyword arguments of a call, in source order.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// A builtin function, bound method or macro.
struct Callable {
  std::string name;
  std::function<Value(Interpreter&, CallArgs&)> fn;
};

// Objects with attributes but no item access: namespace(), the loop variable.
class Object {
 public:
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;
  // Undefined when there is no such attribute.
  virtual Value get_attr(const std::string& name) const;
  // Only namespaces accept attribute assignment; others return false.
  virtual bool set_attr(const std::string& name, const Value& value);
  virtual std::string repr() const;
  // Drops held values; called when a render ends so reference cycles cannot leak.
  virtual void release() {}
};

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Callable, Object };

struct Dict;

class Value {
 public:
  Value() = default;  // undefined
  static Value undefined(std::string hint = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value floating(double d);
  static Value string(std::string s);
  // A string marked safe (markupsafe.Markup): `+` escapes plain strings joined to it.
  static Value markup(std::string s);
  static Value list(ValueList items = {});
  static Value tuple(ValueList items);
  static Value dict();
  static Value dict(std::shared_ptr<Dict> d);
  static Value callable(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn);
  static Value object(std::shared_ptr<Object> o);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  // int, float or bool (bool is a number in Python).
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_markup() const { return kind_ == Kind::String && markup_; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const { return kind_ == Kind::Tuple; }
  bool is_sequence() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_callable() const { return kind_ == Kind::Callable; }
  bool is_object() const { return kind_ == Kind::Object; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const { return std::get<int64_t>(data_); }
  double as_float() const { return std::get<double>(data_); }
  // Numeric value of an int, float or bool.
  double as_double() const;
  const std::string& as_string() const;
  // For undefined: what was looked up, used in error messages.
  const std::string& undefined_hint() const;
  ValueList& items() const { return *std::get<std::shared_ptr<ValueList>>(data_); }
  Dict& as_dict() const { return *std::get<std::shared_ptr<Dict>>(data_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(data_); }
  Object& as_object() const { return *std::get<std::shared_ptr<Object>>(data_); }
  const void* identity() const;
  std::shared_ptr<ValueList> list_ptr() const { return std::get<std::shared_ptr<ValueList>>(data_); }
  std::shared_ptr<Dict> dict_ptr() const { return std::get<std::shared_ptr<Dict>>(data_); }
  std::shared_ptr<Object> object_ptr() const { return std::get<std::shared_ptr<Object>>(data_); }

  // Python truth value.
  bool truthy() const;
  // Python type name ("str", "int", "dict", ...).
  std::string type_name() const;

 private:
  Kind kind_ = Kind::Undefined;
  bool markup_ = false;
  // Strings are immutable and shared; lists, dicts and objects are shared and mutable, as in
  // Python. An undefined value keeps its hint in the string slot.
  std::variant<std::monostate, bool, int64_t, double, std::shared_ptr<const std::string>,
               std::shared_ptr<ValueList>, std::shared_ptr<Dict>, std::shared_ptr<const Callable>,
               std::shared_ptr<Object>>
      data_;
};

// Insertion-ordered mapping with Python key equality (1 == 1.0 == True).
struct Dict {
  Dict() = default;
  Dict(const Dict&) = default;
  Dict(Dict&&) = default;
  Dict& operator=(const Dict&) = default;
  Dict& operator=(Dict&&) = default;
  // Destroys the entries one at a time (see release_values), not recursively.
  ~Dict();

  std::vector<std::pair<Value, Value>> entries;

  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(const Value& key, Value value);
  bool erase(const Value& key);
  size_t size() const { return entries.size(); }
};

// namespace(...): the one object templates may assign attributes to.
class Namespace : public Object {
 public:
  std::string type_name() const override { return "Namespace"; }
  Value get_attr(const std::string& name) const override;
  bool set_attr(const std::string& name, const Value& value) override;
  std::string repr() const override;
  void release() override { attrs.entries.clear(); }
  Dict attrs;
};

// Python == (fails only past the nesting limit). Undefined equals only undefined. A container
// equals itself without being walked, as Python's identity shortcut does.
bool equals(const Value& a, const Value& b);
// Python <; throws RenderFailure for types Python cannot order.
bool less_than(const Value& a, const Value& b);

// str(value) as Jinja prints it: "" for undefined, "None", "True", 1.5, ['a', 1]...
// A container that contains itself prints as [...] / {...} where it recurs, as in Python.
std::string to_str(const Value& v);
// repr(value): quoted strings, used inside containers.
std::string repr(const Value& v);

// Python float repr ("1.0", "0.1", "1e+16", "1e-05", "inf", "nan").
std::string float_repr(double d);

// Thrown by value operations, filters and methods; the interpreter adds the template position.
struct RenderFailure {
  std::string message;
  bool undefined = false;        // an UndefinedError in Jinja terms
  const char* limit = nullptr;   // the RenderLimits field that was exceeded, if that is why
};
[[noreturn]] void fail(std::string message);
// A limit of RenderLimits was reached (`limit` is the field's name).
[[noreturn]] void fail_limit(const char* limit, std::string message);

// Destroys the values, and whatever only they kept alive, without recursion: a list nested a
// million levels deep is freed in a loop instead of overflowing the stack. `items` ends empty.
void release_values(ValueList& items) noexcept;
// What Jinja says when an undefined value is used ("'x' is undefined").
[[noreturn]] void fail_undefined(const Value& v);

}  // namespace mlxcel::templates
