// Templates nested too deeply for the C++ stack are syntax errors naming the place, never a
// crash: blocks and parentheses recurse in the parser, and chains the parser builds in a loop
// (a|f|f|..., a.b.b..., 1+1+...) make trees as tall as they are long, which evaluating and
// freeing would walk recursively. Before the limit on tree height, a chain of 100 000 filters
// overflowed the stack.
#include <gtest/gtest.h>

#include <string>

#include "mlxcel/errors.h"
#include "render_helpers.h"

using namespace mlxcel::templates;
using namespace mlxcel::templates::testing;
using mlxcel::FormatError;

namespace {

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// Expects FormatError with every fragment in the message.
void expect_syntax_error(const std::string& src, std::initializer_list<const char*> fragments,
                         RenderOptions options = test_options()) {
  try {
    Template t(src, options);
    ADD_FAILURE() << "expected FormatError";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    for (const char* frag : fragments) {
      EXPECT_NE(what.find(frag), std::string::npos) << "missing '" << frag << "' in: " << what;
    }
  }
}

}  // namespace

TEST(Nesting, HundredThousandChainedFiltersAreASyntaxError) {
  // x is one level, each filter one more: the 256th filter is the one too many. "{{ x" takes
  // columns 1-4 and each "|lower" 6, so that filter's name starts at column 5 + 255 * 6 + 1.
  const std::string column = "line 1, column " + std::to_string(5 + 255 * 6 + 1);
  expect_syntax_error("{{ x" + repeat("|lower", 100000) + " }}",
                      {"expression nested too deeply (more than 256 levels, max_nesting_depth)",
                       column.c_str()});
}

TEST(Nesting, ChainedFiltersInAFilterBlock) {
  expect_syntax_error("{% filter lower" + repeat("|upper", 20000) + " %}x{% endfilter %}",
                      {"expression nested too deeply"});
}

TEST(Nesting, LongAttributeChain) {
  expect_syntax_error("{{ x" + repeat(".a", 100000) + " }}", {"expression nested too deeply", "line 1"});
}

TEST(Nesting, LongSubscriptAndCallChains) {
  expect_syntax_error("{{ x" + repeat("[0]", 20000) + " }}", {"expression nested too deeply"});
  expect_syntax_error("{{ f" + repeat("()", 20000) + " }}", {"expression nested too deeply"});
}

TEST(Nesting, LongArithmeticChains) {
  expect_syntax_error("{{ 1" + repeat(" + 1", 20000) + " }}", {"expression nested too deeply"});
  expect_syntax_error("{{ 2" + repeat(" * 1", 20000) + " }}", {"expression nested too deeply"});
  expect_syntax_error("{{ 1" + repeat(" ** 1", 20000) + " }}", {"expression nested too deeply"});
}

TEST(Nesting, LongBooleanChains) {
  expect_syntax_error("{{ x" + repeat(" and x", 20000) + " }}", {"expression nested too deeply"});
  expect_syntax_error("{{ x" + repeat(" or x", 20000) + " }}", {"expression nested too deeply"});
}

TEST(Nesting, LongConditionalChain) {
  expect_syntax_error("{{ 1" + repeat(" if x", 20000) + " }}", {"expression nested too deeply"});
}

TEST(Nesting, ChainOnALaterLineNamesThatLine) {
  expect_syntax_error("a\nb\n{{ x" + repeat("|trim", 1000) + " }}", {"line 3", "nested too deeply"});
}

TEST(Nesting, DeepParentheses) {
  expect_syntax_error("{{ " + repeat("(", 5000) + "1" + repeat(")", 5000) + " }}",
                      {"nested too deeply", "max_nesting_depth"});
}

TEST(Nesting, DeepListLiterals) {
  expect_syntax_error("{{ " + repeat("[", 5000) + repeat("]", 5000) + " }}", {"nested too deeply"});
}

TEST(Nesting, DeepUnaryOperators) {
  expect_syntax_error("{{ " + repeat("not ", 5000) + "x }}", {"nested too deeply"});
  expect_syntax_error("{{ " + repeat("-", 5000) + "1 }}", {"nested too deeply"});
}

TEST(Nesting, DeepIfBlocks) {
  expect_syntax_error(repeat("{% if x %}", 5000) + "y" + repeat("{% endif %}", 5000),
                      {"template is nested too deeply (more than 256 levels, max_nesting_depth)",
                       "line 1"});
}

TEST(Nesting, DeepForAndMacroBlocks) {
  expect_syntax_error(repeat("{% for i in x %}", 5000) + repeat("{% endfor %}", 5000),
                      {"nested too deeply"});
  expect_syntax_error(repeat("{% macro m() %}", 5000) + repeat("{% endmacro %}", 5000),
                      {"nested too deeply"});
}

TEST(Nesting, WhatRealTemplatesDoStillParses) {
  // 200 chained filters and 60 nested parentheses are far beyond any real chat template.
  EXPECT_EQ(render("{{ 'A'" + repeat("|lower|upper", 100) + " }}"), "A");
  EXPECT_EQ(render("{{ " + repeat("(", 60) + "1" + repeat(")", 60) + " }}"), "1");
  EXPECT_EQ(render("{{ 0" + repeat(" + 1", 200) + " }}"), "200");
  EXPECT_EQ(render(repeat("{% if true %}", 100) + "y" + repeat("{% endif %}", 100)), "y");
}

TEST(Nesting, TheLimitIsRenderLimitsMaxNestingDepth) {
  RenderOptions o = test_options();
  o.limits.max_nesting_depth = 20;
  expect_syntax_error("{{ x" + repeat("|lower", 20) + " }}", {"more than 20 levels"}, o);
  EXPECT_EQ(Template("{{ 'a'" + repeat("|upper", 18) + " }}", o).render(json::object()), "A");
}
