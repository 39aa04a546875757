// Shape expressions of the tensor tables: a tiny recursive-descent evaluator with checked math.
#include <cctype>
#include <stdexcept>

#include "arch/family.h"
#include "core/checked.h"
#include "mlxcel/errors.h"

namespace mlxcel::arch {
namespace {

class Parser {
 public:
  Parser(std::string_view s, const Env& env, const std::string& config_name)
      : s_(s), env_(env), config_name_(config_name) {}

  uint64_t parse() {
    uint64_t v = expr();
    skip_ws();
    if (pos_ != s_.size()) bug("trailing characters");
    return v;
  }

 private:
  uint64_t expr() {
    uint64_t v = term();
    for (;;) {
      skip_ws();
      if (accept('+')) {
        auto r = checked_add(v, term());
        if (!r) overflow();
        v = *r;
      } else if (accept('-')) {
        uint64_t rhs = term();
        if (rhs > v) throw ConfigError("arch", "dimension expression goes negative (" +
                                                   config_name_ + ", " + std::string(s_) + ")");
        v -= rhs;
      } else {
        return v;
      }
    }
  }

  uint64_t term() {
    uint64_t v = factor();
    for (;;) {
      skip_ws();
      if (accept('*')) {
        auto r = checked_mul(v, factor());
        if (!r) overflow();
        v = *r;
      } else if (accept('/')) {
        uint64_t d = factor();
        if (d == 0) throw ConfigError("arch", "division by zero in dimension (" + config_name_ +
                                                  ", " + std::string(s_) + ")");
        v /= d;
      } else {
        return v;
      }
    }
  }

  uint64_t factor() {
    skip_ws();
    if (accept('(')) {
      uint64_t v = expr();
      skip_ws();
      if (!accept(')')) bug("missing ')'");
      return v;
    }
    if (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      uint64_t v = 0;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        auto m = checked_mul(v, 10);
        auto a = m ? checked_add(*m, static_cast<uint64_t>(s_[pos_] - '0')) : std::nullopt;
        if (!a) overflow();
        v = *a;
        ++pos_;
      }
      return v;
    }
    size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
      ++pos_;
    if (start == pos_) bug("expected a name or number");
    auto name = s_.substr(start, pos_ - start);
    auto it = env_.find(name);
    if (it == env_.end()) bug("unknown dimension '" + std::string(name) + "'");
    return it->second;
  }

  void skip_ws() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  bool accept(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  [[noreturn]] void overflow() {
    throw ConfigError("arch", "dimension overflows 64 bits (" + config_name_ + ", " +
                                  std::string(s_) + ")");
  }
  [[noreturn]] void bug(const std::string& what) {
    throw std::logic_error("[arch] tensor table expression '" + std::string(s_) + "': " + what);
  }

  std::string_view s_;
  const Env& env_;
  const std::string& config_name_;
  size_t pos_ = 0;
};

}  // namespace

uint64_t eval_expr(std::string_view expr, const Env& env, const std::string& config_name) {
  return Parser(expr, env, config_name).parse();
}

std::vector<uint64_t> eval_shape(std::string_view shape, const Env& env,
                                 const std::string& config_name) {
  std::vector<uint64_t> out;
  size_t start = 0;
  while (start <= shape.size()) {
    size_t comma = shape.find(',', start);
    if (comma == std::string_view::npos) comma = shape.size();
    out.push_back(eval_expr(shape.substr(start, comma - start), env, config_name));
    start = comma + 1;
  }
  return out;
}

bool eval_when(std::string_view when, const Env& env) {
  size_t start = 0;
  while (start < when.size()) {
    size_t amp = when.find('&', start);
    if (amp == std::string_view::npos) amp = when.size();
    auto term = when.substr(start, amp - start);
    bool negate = !term.empty() && term[0] == '!';
    if (negate) term.remove_prefix(1);
    auto it = env.find(term);
    if (it == env.end())
      throw std::logic_error("[arch] tensor table condition names unknown flag '" +
                             std::string(term) + "'");
    bool value = it->second != 0;
    if (value == negate) return false;
    start = amp + 1;
  }
  return true;
}

}  // namespace mlxcel::arch
