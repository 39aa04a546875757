// Recursive-descent parser for the Jinja statement and expression grammar, with Jinja's operator
// precedence (filters and `is` tests bind tighter than arithmetic, `~` tighter than + and -).
#pragma once

#include <functional>
#include <string>

#include "templates/ast.h"
#include "templates/lexer.h"

namespace mlxcel::templates {

struct ParseOptions {
  // Names of the filters and tests that exist; an unknown one is a syntax error, as in Jinja.
  std::function<bool(const std::string&)> has_filter;
  std::function<bool(const std::string&)> has_test;
  // Deepest nesting of blocks and expressions accepted, and the tallest expression tree (a
  // chain of 1000 filters is 1000 levels): guards the C++ stack of the parser, the interpreter
  // and the tree's destructor. Template passes RenderLimits::max_nesting_depth.
  int max_depth = 256;
};

// Throws FormatError ("[templates] syntax error at line L, column C: ...") on bad syntax.
Body parse(const LexedTemplate& lexed, const ParseOptions& options);

}  // namespace mlxcel::templates
