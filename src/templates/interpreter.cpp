#include "templates/interpreter.h"

#include "templates/builtins.h"
#include "templates/errors.h"
#include "templates/text.h"

namespace mlxcel::templates {

const Value* Frame::lookup(const std::string& name) const {
  for (const Frame* f = this; f; f = f->parent.get()) {
    auto it = f->vars.find(name);
    if (it != f->vars.end()) return &it->second;
  }
  return nullptr;
}

namespace {

// What loop.changed() saw last. An object so that the interpreter can empty it when the render
// ends: `loop.changed(loop)` makes a reference cycle through it.
class ChangedState : public Object {
 public:
  std::string type_name() const override { return "LoopChangedState"; }
  void release() override { last = Value(); }
  bool has = false;
  Value last;
};

// The `loop` variable of a for loop.
class LoopObject : public Object {
 public:
  explicit LoopObject(Value items) : items_(std::move(items)) {}
  std::string type_name() const override { return "LoopContext"; }
  std::string repr() const override {
    return "<LoopContext " + std::to_string(index0 + 1) + "/" + std::to_string(items().size()) + ">";
  }
  Value get_attr(const std::string& name) const override {
    const auto n = static_cast<int64_t>(items().size());
    const auto i = static_cast<int64_t>(index0);
    if (name == "index") return Value::integer(i + 1);
    if (name == "index0") return Value::integer(i);
    if (name == "revindex") return Value::integer(n - i);
    if (name == "revindex0") return Value::integer(n - i - 1);
    if (name == "first") return Value::boolean(i == 0);
    if (name == "last") return Value::boolean(i == n - 1);
    if (name == "length") return Value::integer(n);
    if (name == "depth") return Value::integer(1);
    if (name == "depth0") return Value::integer(0);
    if (name == "previtem") {
      return i > 0 ? items()[index0 - 1] : Value::undefined("there is no previous item");
    }
    if (name == "nextitem") {
      return i + 1 < n ? items()[index0 + 1] : Value::undefined("there is no next item");
    }
    if (name == "cycle") {
      const size_t at = index0;
      return Value::callable("loop.cycle", [at](Interpreter&, CallArgs& args) {
        if (args.positional.empty()) fail("no items for cycling given");
        return args.positional[at % args.positional.size()];
      });
    }
    if (name == "changed") {
      auto state = changed_;
      return Value::callable("loop.changed", [state](Interpreter& in, CallArgs& args) {
        Value now = Value::list(args.positional);
        if (state->has && equals(state->last, now)) return Value::boolean(false);
        in.note_mutation(Value::object(state));
        state->has = true;
        state->last = now;
        return Value::boolean(true);
      });
    }
    return Value::undefined("'LoopContext object' has no attribute '" + name + "'");
  }
  size_t index0 = 0;

 private:
  const ValueList& items() const { return items_.items(); }
  Value items_;  // a list
  std::shared_ptr<ChangedState> changed_ = std::make_shared<ChangedState>();
};

std::string object_type(const Value& v) {
  if (v.is_none()) return "None";
  return v.type_name() + " object";
}

}  // namespace

Interpreter::Interpreter(const LexedTemplate& lexed, const RenderOptions& options)
    : lexed_(lexed), opt_(options), budget_(std::make_shared<RenderBudget>(options.limits)) {}

Interpreter::~Interpreter() {
  for (auto& f : macro_frames_) f->vars.clear();
  for (auto& v : mutated_) {
    if (v.is_list() || v.is_tuple()) v.items().clear();
    if (v.is_dict()) v.as_dict().entries.clear();
    if (v.is_object()) v.as_object().release();
  }
}

void Interpreter::note_mutation(const Value& container) {
  if (mutated_ids_.count(container.identity())) return;
  // The container stays alive until the render ends, plus its place in these two lists.
  budget_->charge(128, "the list of changed containers");
  mutated_ids_.insert(container.identity());
  mutated_.push_back(container);
}

void Interpreter::check_stack() const {
  char here;
  const auto at = reinterpret_cast<uintptr_t>(&here);
  // The stack grows down on every platform mlxcel builds for.
  if (stack_base_ > at && stack_base_ - at > opt_.limits.max_stack_bytes) {
    fail_limit("max_stack_bytes", "template nested too deeply (more than " +
                                      std::to_string(opt_.limits.max_stack_bytes) +
                                      " bytes of stack, max_stack_bytes)");
  }
  budget_->tick();
}

namespace {

// A failure's message goes to logs and clients: what a huge value printed into it is cut short.
std::string shorten(const std::string& message) {
  constexpr size_t kMaxMessage = 2000;
  if (message.size() <= kMaxMessage) return message;
  size_t cut = kMaxMessage;
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return message.substr(0, cut) + "... (" + std::to_string(message.size() - cut) + " more bytes)";
}

}  // namespace

std::string Interpreter::render(const Body& body, const FramePtr& root) {
  char base;
  stack_base_ = reinterpret_cast<uintptr_t>(&base);
  BudgetScope scope(*budget_);
  std::string out;
  try {
    exec(body, root, out);
  } catch (const RenderFailure& f) {
    std::string message = "render failed at " + lexed_.describe(offset_, shorten(f.message));
    if (f.limit) throw TemplateLimitExceeded(message, f.limit);
    throw TemplateRenderError(message, f.undefined);
  }
  return out;
}

void Interpreter::count_iterations(uint64_t n) {
  iterations_ += n;
  budget_->tick(n);
  if (iterations_ > opt_.limits.max_loop_iterations) {
    fail_limit("max_loop_iterations", "template ran more than " +
                                          std::to_string(opt_.limits.max_loop_iterations) +
                                          " loop iterations (max_loop_iterations)");
  }
}

void Interpreter::check_size(uint64_t bytes, const char* what) const {
  check_string_bytes(bytes, what);
}

void Interpreter::append(std::string& out, const std::string& s) {
  check_size(out.size() + s.size());
  budget_->charge(s.size(), "the template output");
  out += s;
}

std::string Interpreter::finish_buffer(std::string& out) {
  budget_->refund(out.size());
  return std::move(out);
}

Interpreter::Flow Interpreter::exec(const Body& body, const FramePtr& frame, std::string& out) {
  for (const auto& s : body) {
    const Flow f = exec_stmt(*s, frame, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

std::string Interpreter::render_block(const Body& body, const FramePtr& frame) {
  std::string out;
  exec(body, std::make_shared<Frame>(frame), out);
  return finish_buffer(out);
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& stmt, const FramePtr& frame, std::string& out) {
  offset_ = stmt.offset;
  check_stack();
  switch (stmt.kind) {
    case StmtKind::Text: append(out, static_cast<const TextStmt&>(stmt).text); break;
    case StmtKind::Output: {
      const Value v = eval(*static_cast<const OutputStmt&>(stmt).expr, frame);
      append(out, to_str(v));
      break;
    }
    case StmtKind::If: {
      const auto& s = static_cast<const IfStmt&>(stmt);
      for (const auto& [cond, body] : s.branches) {
        if (eval(*cond, frame).truthy()) return exec(body, frame, out);
      }
      return exec(s.otherwise, frame, out);
    }
    case StmtKind::For: return exec_for(static_cast<const ForStmt&>(stmt), frame, out);
    case StmtKind::Set: {
      const auto& s = static_cast<const SetStmt&>(stmt);
      assign(s.target, eval(*s.value, frame), *frame);
      break;
    }
    case StmtKind::SetAttr: {
      const auto& s = static_cast<const SetAttrStmt&>(stmt);
      const Value* obj = frame->lookup(s.object);
      const Value value = eval(*s.value, frame);
      if (!obj || !obj->is_object()) fail("cannot assign attribute on non-namespace object");
      note_mutation(*obj);
      if (!obj->as_object().set_attr(s.attr, value)) {
        fail("cannot assign attribute on non-namespace object");
      }
      break;
    }
    case StmtKind::SetBlock: {
      const auto& s = static_cast<const SetBlockStmt&>(stmt);
      Value v = Value::string(render_block(s.body, frame));
      if (s.filters) v = eval_filter(static_cast<const FilterExpr&>(*s.filters), frame, &v);
      frame->vars[s.name] = v;
      break;
    }
    case StmtKind::Macro: {
      const auto& s = static_cast<const MacroStmt&>(stmt);
      frame->vars[s.name] = make_macro(s, frame);
      break;
    }
    case StmtKind::CallBlock: {
      const auto& s = static_cast<const CallBlockStmt&>(stmt);
      const auto& call = static_cast<const CallExpr&>(*s.call);
      Value callee = eval(*call.callee, frame);
      CallArgs args;
      eval_args(call.args, frame, args);
      args.keyword.emplace_back("caller", make_macro(*s.caller, frame));
      offset_ = stmt.offset;
      append(out, to_str(this->call(callee, args)));
      break;
    }
    case StmtKind::FilterBlock: {
      const auto& s = static_cast<const FilterBlockStmt&>(stmt);
      const Value body = Value::string(render_block(s.body, frame));
      append(out, to_str(eval_filter(static_cast<const FilterExpr&>(*s.filters), frame, &body)));
      break;
    }
    case StmtKind::Break: return Flow::Break;
    case StmtKind::Continue: return Flow::Continue;
    case StmtKind::Scope: {
      const auto& s = static_cast<const ScopeStmt&>(stmt);
      auto inner = std::make_shared<Frame>(frame);
      for (const auto& [name, expr] : s.assignments) inner->vars[name] = eval(*expr, frame);
      return exec(s.body, inner, out);
    }
  }
  return Flow::Normal;
}

void Interpreter::assign(const Target& target, const Value& value, Frame& frame) {
  if (!target.unpack) {
    frame.vars[target.names[0]] = value;
    return;
  }
  const ValueList items = iterate(value);
  if (items.size() != target.names.size()) {
    if (items.size() > target.names.size()) {
      fail("too many values to unpack (expected " + std::to_string(target.names.size()) + ")");
    }
    fail("not enough values to unpack (expected " + std::to_string(target.names.size()) +
         ", got " + std::to_string(items.size()) + ")");
  }
  for (size_t i = 0; i < items.size(); ++i) frame.vars[target.names[i]] = items[i];
}

Interpreter::Flow Interpreter::exec_for(const ForStmt& s, const FramePtr& frame, std::string& out) {
  // A list value, so the copy this loop walks is charged while it runs.
  Value items_value = Value::list(iterate(eval(*s.iter, frame)));
  if (s.filter) {
    ValueList kept;
    for (const Value& item : items_value.items()) {
      count_iterations(1);
      auto f = std::make_shared<Frame>(frame);
      assign(s.target, item, *f);
      offset_ = s.filter->offset;
      if (eval(*s.filter, f).truthy()) kept.push_back(item);
    }
    items_value = Value::list(std::move(kept));
  }
  const ValueList& items = items_value.items();
  auto loop = std::make_shared<LoopObject>(items_value);
  const Value loop_value = Value::object(loop);
  // Jinja runs the else block unless some iteration reached the end of the body: a loop whose
  // every iteration ended in break or continue still gets it.
  bool completed = false;
  for (size_t i = 0; i < items.size(); ++i) {
    count_iterations(1);
    loop->index0 = i;
    auto f = std::make_shared<Frame>(frame);
    f->vars["loop"] = loop_value;
    assign(s.target, items[i], *f);
    const Flow flow = exec(s.body, f, out);
    if (flow == Flow::Break) break;
    if (flow == Flow::Normal) completed = true;
  }
  if (!completed) return exec(s.otherwise, frame, out);
  return Flow::Normal;
}

Value Interpreter::make_macro(const MacroStmt& m, const FramePtr& frame) {
  const MacroStmt* mp = &m;
  FramePtr def = frame;
  // The scope stays alive until the render ends (see ~Interpreter).
  budget_->charge(512, "a macro's scope");
  macro_frames_.push_back(frame);
  return Value::callable(m.name, [mp, def](Interpreter& in, CallArgs& args) {
    return in.call_macro(*mp, def, args);
  });
}

Value Interpreter::call_macro(const MacroStmt& m, const FramePtr& def_frame, CallArgs& args) {
  if (call_depth_ >= opt_.limits.max_call_depth) {
    fail_limit("max_call_depth", "macro calls nested deeper than " +
                                     std::to_string(opt_.limits.max_call_depth) + " (max_call_depth)");
  }
  auto f = std::make_shared<Frame>(def_frame);
  // The arguments move into the macro's scope, so a long *args list is not also held by the
  // caller for as long as the macro runs (which may be 200 nested calls).
  CallArgs taken = std::move(args);
  args = CallArgs{};
  std::vector<bool> set(m.params.size(), false);
  ValueList extra;
  for (size_t i = 0; i < taken.positional.size(); ++i) {
    if (i < m.params.size()) {
      f->vars[m.params[i].name] = std::move(taken.positional[i]);
      set[i] = true;
    } else {
      extra.push_back(std::move(taken.positional[i]));
    }
  }
  taken.positional = {};
  if (!extra.empty() && !m.uses_varargs) {
    fail("macro '" + m.name + "' takes not more than " + std::to_string(m.params.size()) +
         " argument(s)");
  }
  auto kwargs = std::make_shared<Dict>();
  for (auto& [key, value] : taken.keyword) {
    bool matched = false;
    for (size_t i = 0; i < m.params.size(); ++i) {
      if (m.params[i].name != key) continue;
      if (set[i]) fail("macro '" + m.name + "' got multiple values for argument '" + key + "'");
      f->vars[key] = value;
      set[i] = matched = true;
      break;
    }
    if (matched) continue;
    if (key == "caller" && m.uses_caller) {
      f->vars["caller"] = value;
    } else if (m.uses_kwargs) {
      kwargs->set(Value::string(key), value);
    } else {
      fail("macro '" + m.name + "' takes no keyword argument '" + key + "'");
    }
  }
  for (size_t i = 0; i < m.params.size(); ++i) {
    if (set[i]) continue;
    const auto& p = m.params[i];
    f->vars[p.name] = p.default_value
                          ? eval(*p.default_value, f)
                          : Value::undefined("parameter '" + p.name + "' was not provided");
  }
  f->vars["varargs"] = Value::tuple(std::move(extra));
  f->vars["kwargs"] = Value::dict(std::move(kwargs));
  taken.keyword = {};
  ++call_depth_;
  std::string out;
  const size_t saved = offset_;
  exec(m.body, f, out);
  offset_ = saved;
  --call_depth_;
  return Value::string(finish_buffer(out));
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_callable()) return callee.as_callable().fn(*this, args);
  if (callee.is_undefined()) fail_undefined(callee);
  fail("'" + callee.type_name() + "' object is not callable");
}

Value Interpreter::apply_filter(const std::string& name, const Value& input, CallArgs& args) {
  const FilterFn fn = find_filter(name);
  if (!fn) fail("no filter named '" + name + "' found");
  return fn(*this, input, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& input, CallArgs& args) {
  const TestFn fn = find_test(name);
  if (!fn) fail("no test named '" + name + "' found");
  return fn(*this, input, args);
}

Value Interpreter::get_attr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Kind::Undefined: fail_undefined(obj);
    case Kind::Object: return obj.as_object().get_attr(name);
    case Kind::Dict: {
      Value m = get_method(obj, name);
      if (!m.is_undefined()) return m;
      if (const Value* v = obj.as_dict().find(name)) return *v;
      break;
    }
    case Kind::String:
    case Kind::List:
    case Kind::Tuple: {
      Value m = get_method(obj, name);
      if (!m.is_undefined()) return m;
      break;
    }
    default: break;
  }
  return Value::undefined("'" + object_type(obj) + "' has no attribute '" + name + "'");
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Kind::Undefined: fail_undefined(obj);
    case Kind::Dict:
      if (!key.is_list() && !key.is_dict()) {
        if (const Value* v = obj.as_dict().find(key)) return *v;
      }
      break;
    case Kind::List:
    case Kind::Tuple:
    case Kind::String: {
      const auto idx = as_index(key);
      if (!idx) break;
      const int64_t n = obj.is_string() ? static_cast<int64_t>(text::length(obj.as_string()))
                                        : static_cast<int64_t>(obj.items().size());
      int64_t i = *idx < 0 ? *idx + n : *idx;
      if (i < 0 || i >= n) {
        return Value::undefined(obj.type_name() + " object has no element " + repr(key));
      }
      if (!obj.is_string()) return obj.items()[static_cast<size_t>(i)];
      if (text::is_ascii(obj.as_string())) {
        return Value::string(obj.as_string().substr(static_cast<size_t>(i), 1));
      }
      return Value::string(text::encode(text::decode(obj.as_string()).substr(static_cast<size_t>(i), 1)));
    }
    case Kind::Object:
      if (key.is_string()) return obj.as_object().get_attr(key.as_string());
      break;
    default: break;
  }
  if (key.is_string()) {
    Value m = get_method(obj, key.as_string());
    if (!m.is_undefined()) return m;
  }
  return Value::undefined("'" + object_type(obj) + "' has no attribute " + repr(key));
}

void Interpreter::eval_args(const CallArgsExpr& a, const FramePtr& frame, CallArgs& out) {
  for (const auto& p : a.positional) out.positional.push_back(eval(*p, frame));
  for (const auto& [k, v] : a.keyword) out.keyword.emplace_back(k, eval(*v, frame));
  if (a.star_args) {
    for (Value& v : iterate(eval(*a.star_args, frame))) out.positional.push_back(std::move(v));
  }
  if (a.star_kwargs) {
    const Value d = eval(*a.star_kwargs, frame);
    if (!d.is_dict()) fail("argument after ** must be a mapping, not " + d.type_name());
    for (const auto& [k, v] : d.as_dict().entries) {
      if (!k.is_string()) fail("keywords must be strings");
      out.keyword.emplace_back(k.as_string(), v);
    }
  }
}

Value Interpreter::eval_filter(const FilterExpr& f, const FramePtr& frame, const Value* block_input) {
  check_stack();
  Value input;
  if (f.input) {
    input = f.input->kind == ExprKind::Filter
                ? eval_filter(static_cast<const FilterExpr&>(*f.input), frame, block_input)
                : eval(*f.input, frame);
  } else if (block_input) {
    input = *block_input;
  }
  CallArgs args;
  eval_args(f.args, frame, args);
  offset_ = f.offset;
  return apply_filter(f.name, input, args);
}

Value Interpreter::eval_compare(const CompareExpr& c, const FramePtr& frame) {
  Value left = eval(*c.first, frame);
  for (const auto& [op, expr] : c.rest) {
    Value right = eval(*expr, frame);
    offset_ = c.offset;
    bool r = false;
    switch (op) {
      case CompareOp::Eq: r = equals(left, right); break;
      case CompareOp::Ne: r = !equals(left, right); break;
      case CompareOp::Lt: r = less_than(left, right); break;
      case CompareOp::Le: r = less_than(left, right) || equals(left, right); break;
      case CompareOp::Gt: r = less_than(right, left); break;
      case CompareOp::Ge: r = less_than(right, left) || equals(left, right); break;
      case CompareOp::In: r = contains(right, left); break;
      case CompareOp::NotIn: r = !contains(right, left); break;
    }
    if (!r) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval(const Expr& e, const FramePtr& frame) {
  offset_ = e.offset;
  check_stack();
  switch (e.kind) {
    case ExprKind::Literal: return static_cast<const LiteralExpr&>(e).value;
    case ExprKind::Name: {
      const auto& n = static_cast<const NameExpr&>(e);
      if (const Value* v = frame->lookup(n.name)) return *v;
      return Value::undefined("'" + n.name + "' is undefined");
    }
    case ExprKind::List:
    case ExprKind::Tuple: {
      ValueList items;
      for (const auto& item : static_cast<const SeqExpr&>(e).items) items.push_back(eval(*item, frame));
      return e.kind == ExprKind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::Dict: {
      auto d = std::make_shared<Dict>();
      for (const auto& [k, v] : static_cast<const DictExpr&>(e).items) {
        Value key = eval(*k, frame);
        if (key.is_list() || key.is_dict()) fail("unhashable type: '" + key.type_name() + "'");
        d->set(key, eval(*v, frame));
      }
      return Value::dict(std::move(d));
    }
    case ExprKind::Neg:
    case ExprKind::Pos: {
      Value v = eval(*static_cast<const SeqExpr&>(e).items[0], frame);
      offset_ = e.offset;
      if (e.kind == ExprKind::Neg) return negate(v);
      if (v.is_undefined()) fail_undefined(v);
      if (!v.is_number()) fail("bad operand type for unary +: '" + v.type_name() + "'");
      return v.is_bool() ? Value::integer(v.as_bool()) : v;
    }
    case ExprKind::Not: return Value::boolean(!eval(*static_cast<const SeqExpr&>(e).items[0], frame).truthy());
    case ExprKind::Binary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Value l = eval(*b.left, frame);
      Value r = eval(*b.right, frame);
      offset_ = e.offset;
      return binary_op(b.op, l, r);
    }
    case ExprKind::Concat: {
      // A buffer like the output: the items may call macros while it is held.
      std::string s;
      for (const auto& item : static_cast<const SeqExpr&>(e).items) {
        const std::string piece = to_str(eval(*item, frame));
        offset_ = e.offset;
        check_size(s.size() + piece.size(), "a ~ concatenation");
        budget_->charge(piece.size(), "a ~ concatenation");
        s += piece;
      }
      return Value::string(finish_buffer(s));
    }
    case ExprKind::Compare: return eval_compare(static_cast<const CompareExpr&>(e), frame);
    case ExprKind::And: {
      const auto& s = static_cast<const SeqExpr&>(e);
      Value l = eval(*s.items[0], frame);
      return l.truthy() ? eval(*s.items[1], frame) : l;
    }
    case ExprKind::Or: {
      const auto& s = static_cast<const SeqExpr&>(e);
      Value l = eval(*s.items[0], frame);
      return l.truthy() ? l : eval(*s.items[1], frame);
    }
    case ExprKind::Cond: {
      const auto& c = static_cast<const CondExpr&>(e);
      if (eval(*c.cond, frame).truthy()) return eval(*c.then, frame);
      if (c.otherwise) return eval(*c.otherwise, frame);
      return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
    }
    case ExprKind::Attr: {
      const auto& a = static_cast<const AttrExpr&>(e);
      Value obj = eval(*a.object, frame);
      offset_ = e.offset;
      return get_attr(obj, a.attr);
    }
    case ExprKind::Item: {
      const auto& it = static_cast<const ItemExpr&>(e);
      Value obj = eval(*it.object, frame);
      if (it.index->kind == ExprKind::Slice) {
        const auto& s = static_cast<const SliceExpr&>(*it.index);
        Value a, b, c;
        if (s.start) a = eval(*s.start, frame);
        if (s.stop) b = eval(*s.stop, frame);
        if (s.step) c = eval(*s.step, frame);
        offset_ = e.offset;
        if (obj.is_undefined()) fail_undefined(obj);
        if (!obj.is_sequence() && !obj.is_string()) {
          return Value::undefined("'" + object_type(obj) + "' cannot be sliced");
        }
        return slice(obj, s.start ? &a : nullptr, s.stop ? &b : nullptr, s.step ? &c : nullptr);
      }
      Value key = eval(*it.index, frame);
      offset_ = e.offset;
      return get_item(obj, key);
    }
    case ExprKind::Slice: fail("slice outside of a subscript");
    case ExprKind::Call: {
      const auto& c = static_cast<const CallExpr&>(e);
      Value callee = eval(*c.callee, frame);
      CallArgs args;
      eval_args(c.args, frame, args);
      offset_ = e.offset;
      return call(callee, args);
    }
    case ExprKind::Filter: return eval_filter(static_cast<const FilterExpr&>(e), frame, nullptr);
    case ExprKind::Test: {
      const auto& t = static_cast<const TestExpr&>(e);
      Value input = eval(*t.input, frame);
      CallArgs args;
      eval_args(t.args, frame, args);
      offset_ = e.offset;
      const bool r = apply_test(t.name, input, args);
      return Value::boolean(t.negated ? !r : r);
    }
  }
  fail("unknown expression");
}

}  // namespace mlxcel::templates
