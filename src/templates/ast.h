// Syntax tree of a parsed template. Nodes keep the byte offset of their first token so runtime
// errors can name the line.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "templates/value.h"

namespace mlxcel::templates {

enum class ExprKind {
  Literal, Name, List, Tuple, Dict, Neg, Pos, Not, Binary, Concat, Compare, And, Or, Cond,
  Attr, Item, Slice, Call, Filter, Test
};

enum class BinaryOp { Add, Sub, Mul, Div, FloorDiv, Mod, Pow };
enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

struct Expr {
  Expr(ExprKind k, size_t off) : kind(k), offset(off) {}
  virtual ~Expr() = default;
  ExprKind kind;
  size_t offset;
  // Levels of expressions from here down (1 for a leaf). The parser refuses trees taller than
  // its limit, so evaluating and destroying a tree cannot exhaust the stack.
  int height = 1;
};
using ExprPtr = std::unique_ptr<Expr>;

struct CallArgsExpr {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr star_args;    // *args
  ExprPtr star_kwargs;  // **kwargs
};

struct LiteralExpr : Expr {
  LiteralExpr(size_t off, Value v) : Expr(ExprKind::Literal, off), value(std::move(v)) {}
  Value value;
};
struct NameExpr : Expr {
  NameExpr(size_t off, std::string n) : Expr(ExprKind::Name, off), name(std::move(n)) {}
  std::string name;
};
// List, Tuple, Concat (a ~ b ~ c), And/Or (two items), Not/Neg/Pos (one item).
struct SeqExpr : Expr {
  SeqExpr(ExprKind k, size_t off) : Expr(k, off) {}
  std::vector<ExprPtr> items;
};
struct DictExpr : Expr {
  explicit DictExpr(size_t off) : Expr(ExprKind::Dict, off) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};
struct BinaryExpr : Expr {
  BinaryExpr(size_t off, BinaryOp o, ExprPtr l, ExprPtr r)
      : Expr(ExprKind::Binary, off), op(o), left(std::move(l)), right(std::move(r)) {}
  BinaryOp op;
  ExprPtr left, right;
};
struct CompareExpr : Expr {
  explicit CompareExpr(size_t off) : Expr(ExprKind::Compare, off) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};
struct CondExpr : Expr {
  explicit CondExpr(size_t off) : Expr(ExprKind::Cond, off) {}
  ExprPtr then, cond, otherwise;  // otherwise may be null (undefined when false)
};
struct AttrExpr : Expr {
  AttrExpr(size_t off, ExprPtr obj, std::string a)
      : Expr(ExprKind::Attr, off), object(std::move(obj)), attr(std::move(a)) {}
  ExprPtr object;
  std::string attr;
};
struct ItemExpr : Expr {
  ItemExpr(size_t off, ExprPtr obj, ExprPtr idx)
      : Expr(ExprKind::Item, off), object(std::move(obj)), index(std::move(idx)) {}
  ExprPtr object, index;
};
struct SliceExpr : Expr {
  explicit SliceExpr(size_t off) : Expr(ExprKind::Slice, off) {}
  ExprPtr start, stop, step;  // each may be null
};
struct CallExpr : Expr {
  CallExpr(size_t off, ExprPtr c) : Expr(ExprKind::Call, off), callee(std::move(c)) {}
  ExprPtr callee;
  CallArgsExpr args;
};
// `input | name(args)`; input is null for the filters of a filter block or set block.
struct FilterExpr : Expr {
  FilterExpr(size_t off, ExprPtr in, std::string n)
      : Expr(ExprKind::Filter, off), input(std::move(in)), name(std::move(n)) {}
  ExprPtr input;
  std::string name;
  CallArgsExpr args;
};
struct TestExpr : Expr {
  TestExpr(size_t off, ExprPtr in, std::string n, bool neg)
      : Expr(ExprKind::Test, off), input(std::move(in)), name(std::move(n)), negated(neg) {}
  ExprPtr input;
  std::string name;
  bool negated;
  CallArgsExpr args;
};

// Calls f(const Expr&) for each direct subexpression of e.
template <typename F>
void for_each_child(const Expr& e, F&& f) {
  auto one = [&](const ExprPtr& p) {
    if (p) f(*p);
  };
  auto args = [&](const CallArgsExpr& a) {
    for (const auto& p : a.positional) one(p);
    for (const auto& kv : a.keyword) one(kv.second);
    one(a.star_args);
    one(a.star_kwargs);
  };
  switch (e.kind) {
    case ExprKind::Literal:
    case ExprKind::Name: return;
    case ExprKind::List:
    case ExprKind::Tuple:
    case ExprKind::Concat:
    case ExprKind::And:
    case ExprKind::Or:
    case ExprKind::Not:
    case ExprKind::Neg:
    case ExprKind::Pos:
      for (const auto& p : static_cast<const SeqExpr&>(e).items) one(p);
      return;
    case ExprKind::Dict:
      for (const auto& [k, v] : static_cast<const DictExpr&>(e).items) {
        one(k);
        one(v);
      }
      return;
    case ExprKind::Binary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      one(b.left);
      one(b.right);
      return;
    }
    case ExprKind::Compare: {
      const auto& c = static_cast<const CompareExpr&>(e);
      one(c.first);
      for (const auto& r : c.rest) one(r.second);
      return;
    }
    case ExprKind::Cond: {
      const auto& c = static_cast<const CondExpr&>(e);
      one(c.then);
      one(c.cond);
      one(c.otherwise);
      return;
    }
    case ExprKind::Attr: one(static_cast<const AttrExpr&>(e).object); return;
    case ExprKind::Item: {
      const auto& i = static_cast<const ItemExpr&>(e);
      one(i.object);
      one(i.index);
      return;
    }
    case ExprKind::Slice: {
      const auto& s = static_cast<const SliceExpr&>(e);
      one(s.start);
      one(s.stop);
      one(s.step);
      return;
    }
    case ExprKind::Call: {
      const auto& c = static_cast<const CallExpr&>(e);
      one(c.callee);
      args(c.args);
      return;
    }
    case ExprKind::Filter: {
      const auto& fe = static_cast<const FilterExpr&>(e);
      one(fe.input);
      args(fe.args);
      return;
    }
    case ExprKind::Test: {
      const auto& t = static_cast<const TestExpr&>(e);
      one(t.input);
      args(t.args);
      return;
    }
  }
}

enum class StmtKind {
  Text, Output, If, For, Set, SetAttr, SetBlock, Macro, CallBlock, FilterBlock, Break, Continue,
  Scope
};

struct Stmt {
  Stmt(StmtKind k, size_t off) : kind(k), offset(off) {}
  virtual ~Stmt() = default;
  StmtKind kind;
  size_t offset;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct TextStmt : Stmt {
  TextStmt(size_t off, std::string t) : Stmt(StmtKind::Text, off), text(std::move(t)) {}
  std::string text;
};
struct OutputStmt : Stmt {
  OutputStmt(size_t off, ExprPtr e) : Stmt(StmtKind::Output, off), expr(std::move(e)) {}
  ExprPtr expr;
};
struct IfStmt : Stmt {
  explicit IfStmt(size_t off) : Stmt(StmtKind::If, off) {}
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body otherwise;
};
// A name or a tuple of names being assigned (for targets, set targets).
struct Target {
  std::vector<std::string> names;
  bool unpack = false;
};
struct ForStmt : Stmt {
  explicit ForStmt(size_t off) : Stmt(StmtKind::For, off) {}
  Target target;
  ExprPtr iter;
  ExprPtr filter;  // `for x in xs if cond`
  bool recursive = false;
  Body body, otherwise;
};
struct SetStmt : Stmt {
  explicit SetStmt(size_t off) : Stmt(StmtKind::Set, off) {}
  Target target;
  ExprPtr value;
};
struct SetAttrStmt : Stmt {
  explicit SetAttrStmt(size_t off) : Stmt(StmtKind::SetAttr, off) {}
  std::string object, attr;
  ExprPtr value;
};
struct SetBlockStmt : Stmt {
  explicit SetBlockStmt(size_t off) : Stmt(StmtKind::SetBlock, off) {}
  std::string name;
  ExprPtr filters;  // FilterExpr chain with a null innermost input, or null
  Body body;
};
struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};
struct MacroStmt : Stmt {
  explicit MacroStmt(size_t off) : Stmt(StmtKind::Macro, off) {}
  std::string name;
  std::vector<MacroParam> params;
  Body body;
  // Whether the body mentions these; Jinja refuses extra arguments to macros that do not.
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;
};
// `{% call(params) macro(args) %}body{% endcall %}`: body becomes `caller`.
struct CallBlockStmt : Stmt {
  explicit CallBlockStmt(size_t off) : Stmt(StmtKind::CallBlock, off) {}
  std::unique_ptr<MacroStmt> caller;
  ExprPtr call;
};
struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(size_t off) : Stmt(StmtKind::FilterBlock, off) {}
  ExprPtr filters;
  Body body;
};
// A body rendered in its own scope: `{% generation %}` and `{% with %}`.
struct ScopeStmt : Stmt {
  explicit ScopeStmt(size_t off) : Stmt(StmtKind::Scope, off) {}
  std::vector<std::pair<std::string, ExprPtr>> assignments;
  Body body;
};
struct SimpleStmt : Stmt {
  using Stmt::Stmt;
};

}  // namespace mlxcel::templates
