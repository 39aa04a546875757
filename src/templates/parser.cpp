#include "templates/parser.h"

#include <algorithm>
#include <initializer_list>
#include <string>

#include "mlxcel/errors.h"

namespace mlxcel::templates {

namespace {

class Parser {
 public:
  Parser(const LexedTemplate& lexed, const ParseOptions& options) : lx_(lexed), opt_(options) {}

  Body parse_template() {
    std::string found;
    Body body = subparse({}, found);
    return body;
  }

 private:
  // ---- token helpers ----
  const Token& cur() const { return lx_.tokens[i_]; }
  const Token& peek(size_t n = 1) const {
    return lx_.tokens[std::min(i_ + n, lx_.tokens.size() - 1)];
  }
  void advance() {
    if (i_ + 1 < lx_.tokens.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().type == TokenType::Op && cur().text == op; }
  bool is_name(const char* name) const { return cur().type == TokenType::Name && cur().text == name; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool accept_name(const char* name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::Text: return "template text";
      case TokenType::VarBegin: return "'{{'";
      case TokenType::VarEnd: return "end of print statement";
      case TokenType::BlockBegin: return "'{%'";
      case TokenType::BlockEnd: return "end of statement block";
      case TokenType::Name: return "'" + t.text + "'";
      case TokenType::String: return "string";
      case TokenType::Int: return "integer";
      case TokenType::Float: return "float";
      case TokenType::Op: return "'" + t.text + "'";
      case TokenType::End: return "end of template";
    }
    return "token";
  }

  [[noreturn]] void error(const std::string& message) const { error_at(cur().offset, message); }
  [[noreturn]] void error_at(size_t offset, const std::string& message) const {
    throw FormatError("templates", "syntax error at " + lx_.describe(offset, message));
  }

  void expect_op(const char* op) {
    if (!accept_op(op)) error(std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != TokenType::Name) error("expected a name, got " + describe(cur()));
    std::string n = cur().text;
    advance();
    return n;
  }
  void expect_block_end() {
    if (cur().type != TokenType::BlockEnd) {
      error("expected end of statement block, got " + describe(cur()));
    }
    advance();
  }

  struct DepthGuard {
    DepthGuard(Parser& p) : p_(p) {
      if (p_.depth_ >= p_.opt_.max_depth) {
        p_.error("template is nested too deeply (more than " + std::to_string(p_.opt_.max_depth) +
                 " levels, max_nesting_depth)");
      }
      ++p_.depth_;
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  // Every expression node is passed through here once its children are attached: loops build
  // left-leaning chains (a|f|g|..., a.b.c..., 1+1+...) without recursing, so the recursion guard
  // alone does not bound how tall a tree gets.
  ExprPtr finish(ExprPtr e) {
    int h = 0;
    for_each_child(*e, [&h](const Expr& c) { h = std::max(h, c.height); });
    e->height = h + 1;
    if (e->height > opt_.max_depth) {
      error_at(e->offset, "expression nested too deeply (more than " +
                              std::to_string(opt_.max_depth) + " levels, max_nesting_depth)");
    }
    return e;
  }

  // Unknown filters and tests are errors at parse time, except inside `if` conditions and
  // bodies (and conditional expressions), where Jinja defers the check to when they run.
  struct SoftScope {
    SoftScope(Parser& p, bool soft) : p_(p), saved_(p.soft_) { p_.soft_ = soft; }
    ~SoftScope() { p_.soft_ = saved_; }
    Parser& p_;
    bool saved_;
  };

  // ---- statements ----
  // Parses until a block tag named in `ends` (left unconsumed after its `{%`, name in `found`).
  Body subparse(std::initializer_list<const char*> ends, std::string& found) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == TokenType::End) {
        if (ends.size() == 0) return body;
        std::string names;
        for (const char* e : ends) names += std::string(names.empty() ? "" : " or ") + "'" + e + "'";
        error("unexpected end of template, expected " + names);
      }
      if (t.type == TokenType::Text) {
        body.push_back(std::make_unique<TextStmt>(t.offset, t.text));
        advance();
      } else if (t.type == TokenType::VarBegin) {
        const size_t off = t.offset;
        advance();
        ExprPtr e = parse_tuple(true, {}, false);
        if (cur().type != TokenType::VarEnd) error("expected end of print statement, got " + describe(cur()));
        advance();
        body.push_back(std::make_unique<OutputStmt>(off, std::move(e)));
      } else if (t.type == TokenType::BlockBegin) {
        const Token& name = peek();
        if (name.type != TokenType::Name) {
          advance();
          error("expected a statement name, got " + describe(cur()));
        }
        for (const char* e : ends) {
          if (name.text == e) {
            advance();
            advance();
            found = name.text;
            return body;
          }
        }
        advance();
        body.push_back(parse_statement());
      } else {
        error("unexpected " + describe(t));
      }
    }
  }

  StmtPtr parse_statement() {
    const Token& t = cur();
    const size_t off = t.offset;
    const std::string name = t.text;
    advance();
    if (name == "if") return parse_if(off);
    if (name == "for") return parse_for(off);
    if (name == "set") return parse_set(off);
    if (name == "macro") return parse_macro(off);
    if (name == "call") return parse_call_block(off);
    if (name == "filter") return parse_filter_block(off);
    if (name == "with") return parse_with(off);
    if (name == "generation") {
      expect_block_end();
      auto s = std::make_unique<ScopeStmt>(off);
      SoftScope soft(*this, false);
      std::string found;
      s->body = subparse({"endgeneration"}, found);
      expect_block_end();
      return s;
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) error_at(off, "'" + name + "' outside loop");
      expect_block_end();
      return std::make_unique<SimpleStmt>(name == "break" ? StmtKind::Break : StmtKind::Continue, off);
    }
    error_at(off, "encountered unknown tag '" + name + "'");
  }

  StmtPtr parse_if(size_t off) {
    auto s = std::make_unique<IfStmt>(off);
    SoftScope soft(*this, true);
    while (true) {
      ExprPtr cond = parse_tuple(false, {}, false);
      expect_block_end();
      std::string found;
      Body body = subparse({"elif", "else", "endif"}, found);
      s->branches.emplace_back(std::move(cond), std::move(body));
      if (found == "elif") continue;
      if (found == "else") {
        expect_block_end();
        s->otherwise = subparse({"endif"}, found);
      }
      expect_block_end();
      return s;
    }
  }

  Target parse_target(const char* end_name) {
    Target t;
    const bool paren = accept_op("(");
    while (true) {
      t.names.push_back(expect_name());
      if (!accept_op(",")) break;
      t.unpack = true;
      if (paren ? is_op(")") : is_name(end_name)) break;
    }
    if (paren) {
      expect_op(")");
      t.unpack = true;
    }
    return t;
  }

  StmtPtr parse_for(size_t off) {
    auto s = std::make_unique<ForStmt>(off);
    s->target = parse_target("in");
    if (!accept_name("in")) error("expected 'in', got " + describe(cur()));
    s->iter = parse_tuple(false, {"recursive"}, false);
    if (accept_name("if")) s->filter = parse_expression(true);
    if (accept_name("recursive")) s->recursive = true;
    expect_block_end();
    SoftScope soft(*this, false);
    ++loop_depth_;
    std::string found;
    s->body = subparse({"endfor", "else"}, found);
    --loop_depth_;
    if (found == "else") {
      expect_block_end();
      s->otherwise = subparse({"endfor"}, found);
    }
    expect_block_end();
    return s;
  }

  StmtPtr parse_set(size_t off) {
    if (cur().type == TokenType::Name && peek().type == TokenType::Op && peek().text == "." &&
        peek(2).type == TokenType::Name) {
      auto s = std::make_unique<SetAttrStmt>(off);
      s->object = expect_name();
      advance();
      s->attr = expect_name();
      expect_op("=");
      s->value = parse_tuple(true, {}, false);
      expect_block_end();
      return s;
    }
    Target target = parse_target("=");
    if (accept_op("=")) {
      auto s = std::make_unique<SetStmt>(off);
      s->target = std::move(target);
      s->value = parse_tuple(true, {}, false);
      expect_block_end();
      return s;
    }
    if (target.unpack) error("a block assignment needs a single name");
    auto s = std::make_unique<SetBlockStmt>(off);
    s->name = target.names[0];
    if (is_op("|")) s->filters = parse_filter_chain(nullptr, false);
    expect_block_end();
    SoftScope soft(*this, false);
    std::string found;
    s->body = subparse({"endset"}, found);
    expect_block_end();
    return s;
  }

  void parse_signature(MacroStmt& m) {
    expect_op("(");
    while (!is_op(")")) {
      if (!m.params.empty()) expect_op(",");
      if (is_op(")")) break;
      MacroParam p;
      p.name = expect_name();
      if (accept_op("=")) p.default_value = parse_expression(true);
      m.params.push_back(std::move(p));
    }
    expect_op(")");
  }

  void note_special_name(const std::string& n) {
    for (MacroStmt* m : macros_) {
      if (n == "varargs") m->uses_varargs = true;
      if (n == "kwargs") m->uses_kwargs = true;
      if (n == "caller") m->uses_caller = true;
    }
  }

  Body parse_macro_body(MacroStmt& m, const char* end) {
    macros_.push_back(&m);
    SoftScope soft(*this, false);
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    std::string found;
    Body body = subparse({end}, found);
    loop_depth_ = saved_loops;
    macros_.pop_back();
    expect_block_end();
    return body;
  }

  StmtPtr parse_macro(size_t off) {
    auto s = std::make_unique<MacroStmt>(off);
    s->name = expect_name();
    parse_signature(*s);
    expect_block_end();
    s->body = parse_macro_body(*s, "endmacro");
    return s;
  }

  StmtPtr parse_call_block(size_t off) {
    auto s = std::make_unique<CallBlockStmt>(off);
    s->caller = std::make_unique<MacroStmt>(off);
    s->caller->name = "caller";
    if (is_op("(")) parse_signature(*s->caller);
    s->call = parse_expression(true);
    if (s->call->kind != ExprKind::Call) error_at(s->call->offset, "expected a call");
    expect_block_end();
    s->caller->body = parse_macro_body(*s->caller, "endcall");
    return s;
  }

  StmtPtr parse_filter_block(size_t off) {
    auto s = std::make_unique<FilterBlockStmt>(off);
    s->filters = parse_filter_chain(nullptr, true);
    expect_block_end();
    SoftScope soft(*this, false);
    std::string found;
    s->body = subparse({"endfilter"}, found);
    expect_block_end();
    return s;
  }

  StmtPtr parse_with(size_t off) {
    auto s = std::make_unique<ScopeStmt>(off);
    while (cur().type != TokenType::BlockEnd) {
      if (!s->assignments.empty()) expect_op(",");
      std::string name = expect_name();
      expect_op("=");
      s->assignments.emplace_back(std::move(name), parse_expression(true));
    }
    expect_block_end();
    SoftScope soft(*this, false);
    std::string found;
    s->body = subparse({"endwith"}, found);
    expect_block_end();
    return s;
  }

  // ---- expressions ----
  ExprPtr parse_expression(bool with_condexpr) {
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    DepthGuard guard(*this);
    ExprPtr e = parse_or();
    while (is_name("if")) {
      const size_t off = cur().offset;
      advance();
      SoftScope soft(*this, true);
      auto c = std::make_unique<CondExpr>(off);
      c->then = std::move(e);
      c->cond = parse_or();
      if (accept_name("else")) c->otherwise = parse_condexpr();
      e = finish(std::move(c));
    }
    return e;
  }

  ExprPtr binary_seq(ExprKind kind, size_t off, ExprPtr left, ExprPtr right) {
    auto s = std::make_unique<SeqExpr>(kind, off);
    s->items.push_back(std::move(left));
    s->items.push_back(std::move(right));
    return finish(std::move(s));
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const size_t off = cur().offset;
      advance();
      e = binary_seq(ExprKind::Or, off, std::move(e), parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const size_t off = cur().offset;
      advance();
      e = binary_seq(ExprKind::And, off, std::move(e), parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto s = std::make_unique<SeqExpr>(ExprKind::Not, cur().offset);
      advance();
      s->items.push_back(parse_not());
      return finish(std::move(s));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const size_t off = cur().offset;
    ExprPtr first = parse_math1();
    std::unique_ptr<CompareExpr> cmp;
    while (true) {
      CompareOp op;
      if (is_op("==")) op = CompareOp::Eq;
      else if (is_op("!=")) op = CompareOp::Ne;
      else if (is_op("<")) op = CompareOp::Lt;
      else if (is_op("<=")) op = CompareOp::Le;
      else if (is_op(">")) op = CompareOp::Gt;
      else if (is_op(">=")) op = CompareOp::Ge;
      else if (is_name("in")) op = CompareOp::In;
      else if (is_name("not") && peek().type == TokenType::Name && peek().text == "in") {
        op = CompareOp::NotIn;
        advance();
      } else {
        break;
      }
      advance();
      if (!cmp) {
        cmp = std::make_unique<CompareExpr>(off);
        cmp->first = std::move(first);
      }
      cmp->rest.emplace_back(op, parse_math1());
    }
    if (cmp) return finish(std::move(cmp));
    return first;
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const BinaryOp op = is_op("+") ? BinaryOp::Add : BinaryOp::Sub;
      const size_t off = cur().offset;
      advance();
      e = finish(std::make_unique<BinaryExpr>(off, op, std::move(e), parse_concat()));
    }
    return e;
  }

  ExprPtr parse_concat() {
    const size_t off = cur().offset;
    ExprPtr e = parse_math2();
    if (!is_op("~")) return e;
    auto s = std::make_unique<SeqExpr>(ExprKind::Concat, off);
    s->items.push_back(std::move(e));
    while (accept_op("~")) s->items.push_back(parse_math2());
    return finish(std::move(s));
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (true) {
      BinaryOp op;
      if (is_op("*")) op = BinaryOp::Mul;
      else if (is_op("/")) op = BinaryOp::Div;
      else if (is_op("//")) op = BinaryOp::FloorDiv;
      else if (is_op("%")) op = BinaryOp::Mod;
      else break;
      const size_t off = cur().offset;
      advance();
      e = finish(std::make_unique<BinaryExpr>(off, op, std::move(e), parse_pow()));
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const size_t off = cur().offset;
      advance();
      e = finish(std::make_unique<BinaryExpr>(off, BinaryOp::Pow, std::move(e), parse_unary(true)));
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      auto s = std::make_unique<SeqExpr>(is_op("-") ? ExprKind::Neg : ExprKind::Pos, cur().offset);
      advance();
      s->items.push_back(parse_unary(false));
      e = finish(std::move(s));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    const size_t off = t.offset;
    switch (t.type) {
      case TokenType::Name: {
        const std::string& n = t.text;
        Value lit;
        bool is_lit = true;
        if (n == "true" || n == "True") lit = Value::boolean(true);
        else if (n == "false" || n == "False") lit = Value::boolean(false);
        else if (n == "none" || n == "None") lit = Value::none();
        else is_lit = false;
        if (!is_lit) note_special_name(n);
        ExprPtr e = is_lit ? ExprPtr(std::make_unique<LiteralExpr>(off, lit))
                           : ExprPtr(std::make_unique<NameExpr>(off, n));
        advance();
        return e;
      }
      case TokenType::String: {
        std::string s = t.text;
        advance();
        while (cur().type == TokenType::String) {
          s += cur().text;
          advance();
        }
        return std::make_unique<LiteralExpr>(off, Value::string(std::move(s)));
      }
      case TokenType::Int: {
        auto e = std::make_unique<LiteralExpr>(off, Value::integer(t.int_value));
        advance();
        return e;
      }
      case TokenType::Float: {
        auto e = std::make_unique<LiteralExpr>(off, Value::floating(t.float_value));
        advance();
        return e;
      }
      case TokenType::Op:
        if (t.text == "(") {
          advance();
          ExprPtr e = parse_tuple(true, {}, true);
          expect_op(")");
          return e;
        }
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        break;
      default: break;
    }
    error("expected an expression, got " + describe(t));
  }

  // Comma-separated expressions; a single one without a trailing comma is returned as is.
  ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<const char*> extra_end,
                      bool explicit_parens) {
    const size_t off = cur().offset;
    auto tuple = std::make_unique<SeqExpr>(ExprKind::Tuple, off);
    bool is_tuple = false;
    auto at_end = [&] {
      const Token& c = cur();
      if (c.type == TokenType::VarEnd || c.type == TokenType::BlockEnd) return true;
      if (c.type == TokenType::Op && c.text == ")") return true;
      for (const char* n : extra_end) {
        if (c.type == TokenType::Name && c.text == n) return true;
      }
      return false;
    };
    while (true) {
      if (!tuple->items.empty()) expect_op(",");
      if (at_end()) break;
      tuple->items.push_back(parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!tuple->items.empty()) return std::move(tuple->items[0]);
      if (!explicit_parens) error("expected an expression, got " + describe(cur()));
    }
    return finish(std::move(tuple));
  }

  ExprPtr parse_list() {
    auto s = std::make_unique<SeqExpr>(ExprKind::List, cur().offset);
    expect_op("[");
    while (!is_op("]")) {
      if (!s->items.empty()) expect_op(",");
      if (is_op("]")) break;
      s->items.push_back(parse_expression(true));
    }
    expect_op("]");
    return finish(std::move(s));
  }

  ExprPtr parse_dict() {
    auto d = std::make_unique<DictExpr>(cur().offset);
    expect_op("{");
    while (!is_op("}")) {
      if (!d->items.empty()) expect_op(",");
      if (is_op("}")) break;
      ExprPtr k = parse_expression(true);
      expect_op(":");
      ExprPtr v = parse_expression(true);
      d->items.emplace_back(std::move(k), std::move(v));
    }
    expect_op("}");
    return finish(std::move(d));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        const size_t off = cur().offset;
        advance();
        if (cur().type == TokenType::Name) {
          e = finish(std::make_unique<AttrExpr>(off, std::move(e), cur().text));
          advance();
        } else if (cur().type == TokenType::Int) {
          auto idx = std::make_unique<LiteralExpr>(cur().offset, Value::integer(cur().int_value));
          advance();
          e = finish(std::make_unique<ItemExpr>(off, std::move(e), std::move(idx)));
        } else {
          error("expected an attribute name, got " + describe(cur()));
        }
      } else if (is_op("[")) {
        const size_t off = cur().offset;
        advance();
        std::vector<ExprPtr> subs;
        while (!is_op("]")) {
          if (!subs.empty()) expect_op(",");
          if (is_op("]")) break;
          subs.push_back(parse_subscribed());
        }
        expect_op("]");
        if (subs.empty()) error_at(off, "expected a subscript");
        ExprPtr index;
        if (subs.size() == 1) {
          index = std::move(subs[0]);
        } else {
          auto t = std::make_unique<SeqExpr>(ExprKind::Tuple, off);
          t->items = std::move(subs);
          index = finish(std::move(t));
        }
        e = finish(std::make_unique<ItemExpr>(off, std::move(e), std::move(index)));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscribed() {
    const size_t off = cur().offset;
    ExprPtr first;
    if (!is_op(":")) {
      first = parse_expression(true);
      if (!is_op(":")) return first;
    }
    advance();  // ':'
    auto s = std::make_unique<SliceExpr>(off);
    s->start = std::move(first);
    if (!is_op("]") && !is_op(",") && !is_op(":")) s->stop = parse_expression(true);
    if (accept_op(":")) {
      if (!is_op("]") && !is_op(",")) s->step = parse_expression(true);
    }
    return finish(std::move(s));
  }

  void parse_call_args(CallArgsExpr& args) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (accept_op("**")) {
        args.star_kwargs = parse_expression(true);
      } else if (accept_op("*")) {
        args.star_args = parse_expression(true);
      } else if (cur().type == TokenType::Name && peek().type == TokenType::Op && peek().text == "=") {
        std::string key = cur().text;
        advance();
        advance();
        args.keyword.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!args.keyword.empty() || args.star_args || args.star_kwargs) {
          error("positional argument after keyword argument");
        }
        args.positional.push_back(parse_expression(true));
      }
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto c = std::make_unique<CallExpr>(cur().offset, std::move(callee));
    parse_call_args(c->args);
    return finish(std::move(c));
  }

  std::string dotted_name() {
    std::string name = expect_name();
    while (is_op(".") && peek().type == TokenType::Name) {
      advance();
      name += "." + expect_name();
    }
    return name;
  }

  ExprPtr parse_filter_chain(ExprPtr input, bool start_inline) {
    while (is_op("|") || start_inline) {
      if (!start_inline) advance();
      start_inline = false;
      const size_t off = cur().offset;
      std::string name = dotted_name();
      if (!soft_ && opt_.has_filter && !opt_.has_filter(name)) error_at(off, "no filter named '" + name + "'");
      auto f = std::make_unique<FilterExpr>(off, std::move(input), std::move(name));
      if (is_op("(")) parse_call_args(f->args);
      input = finish(std::move(f));
    }
    return input;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        e = parse_filter_chain(std::move(e), false);
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_test(ExprPtr input) {
    advance();  // 'is'
    const bool negated = accept_name("not");
    const size_t off = cur().offset;
    std::string name = dotted_name();
    if (!soft_ && opt_.has_test && !opt_.has_test(name)) error_at(off, "no test named '" + name + "'");
    auto t = std::make_unique<TestExpr>(off, std::move(input), std::move(name), negated);
    const Token& c = cur();
    if (is_op("(")) {
      parse_call_args(t->args);
    } else if ((c.type == TokenType::Name || c.type == TokenType::String || c.type == TokenType::Int ||
                c.type == TokenType::Float || is_op("[") || is_op("{")) &&
               !(c.type == TokenType::Name &&
                 (c.text == "else" || c.text == "or" || c.text == "and"))) {
      if (is_name("is")) error("cannot chain multiple tests with 'is'");
      t->args.positional.push_back(parse_postfix(parse_primary()));
    }
    return finish(std::move(t));
  }

  const LexedTemplate& lx_;
  const ParseOptions& opt_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  bool soft_ = false;
  std::vector<MacroStmt*> macros_;
};

}  // namespace

Body parse(const LexedTemplate& lexed, const ParseOptions& options) {
  return Parser(lexed, options).parse_template();
}

}  // namespace mlxcel::templates
