// Runs a parsed template: Jinja scoping (each loop iteration and macro call gets its own scope,
// `if` does not), loop controls, macros and call blocks, and the limits that keep a hostile
// template from exhausting the process.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "templates/ast.h"
#include "templates/budget.h"
#include "templates/lexer.h"
#include "templates/value.h"

namespace mlxcel::templates {

struct RenderOptions {
  RenderLimits limits;
  // Local time for strftime_now(); the default reads the system clock.
  std::function<std::tm()> now;
};

struct Frame {
  explicit Frame(std::shared_ptr<Frame> p = nullptr) : parent(std::move(p)) {}
  const Value* lookup(const std::string& name) const;
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
};
using FramePtr = std::shared_ptr<Frame>;

class Interpreter {
 public:
  Interpreter(const LexedTemplate& lexed, const RenderOptions& options);
  // Empties every scope that defined a macro and every container mutated in place, so the
  // reference cycles these can form (a macro in its own scope, ns.self = ns) are broken.
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders body with `root` as the outermost scope (globals and context), under a fresh
  // RenderBudget made current on this thread for the duration.
  std::string render(const Body& body, const FramePtr& root);

  // Used by filters, tests, methods and globals.
  Value call(const Value& callee, CallArgs& args);
  Value apply_filter(const std::string& name, const Value& input, CallArgs& args);
  bool apply_test(const std::string& name, const Value& input, CallArgs& args);
  Value get_attr(const Value& obj, const std::string& name);
  Value get_item(const Value& obj, const Value& key);
  const RenderOptions& options() const { return opt_; }
  // Fails once the render has run more loop iterations than the limit allows.
  void count_iterations(uint64_t n);
  // Fails when a string being built (`what`) is over the output limit or would not fit in the
  // memory budget.
  void check_size(uint64_t bytes, const char* what = "the template output") const;
  // A list, dict or namespace about to be changed in place (see ~Interpreter); it is kept alive
  // until the render ends, and what it grows by is charged until then.
  void note_mutation(const Value& container);

 private:
  enum class Flow { Normal, Break, Continue };

  Flow exec(const Body& body, const FramePtr& frame, std::string& out);
  Flow exec_stmt(const Stmt& stmt, const FramePtr& frame, std::string& out);
  Flow exec_for(const ForStmt& s, const FramePtr& frame, std::string& out);
  void assign(const Target& target, const Value& value, Frame& frame);
  std::string render_block(const Body& body, const FramePtr& frame);
  Value make_macro(const MacroStmt& m, const FramePtr& frame);
  Value call_macro(const MacroStmt& m, const FramePtr& def_frame, CallArgs& args);

  Value eval(const Expr& e, const FramePtr& frame);
  Value eval_filter(const FilterExpr& f, const FramePtr& frame, const Value* block_input);
  Value eval_compare(const CompareExpr& c, const FramePtr& frame);
  void eval_args(const CallArgsExpr& a, const FramePtr& frame, CallArgs& out);
  // Adds to an output buffer (the output, a macro's or block's), whose bytes count against the
  // memory budget until finish_buffer hands them on.
  void append(std::string& out, const std::string& s);
  std::string finish_buffer(std::string& out);
  void check_stack() const;

  const LexedTemplate& lexed_;
  const RenderOptions& opt_;
  std::shared_ptr<RenderBudget> budget_;
  size_t offset_ = 0;  // where evaluation is, for error messages
  uintptr_t stack_base_ = 0;
  int call_depth_ = 0;
  uint64_t iterations_ = 0;
  std::vector<FramePtr> macro_frames_;
  std::vector<Value> mutated_;
  std::unordered_set<const void*> mutated_ids_;
};

}  // namespace mlxcel::templates
