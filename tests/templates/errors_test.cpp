// Malformed templates and failing renders: each case checks the error type and what the message
// says (line and column for syntax errors, the template's own text for raise_exception).
#include <gtest/gtest.h>

#include <string>

#include "mlxcel/errors.h"
#include "render_helpers.h"

using namespace mlxcel::templates;
using namespace mlxcel::templates::testing;
using mlxcel::FormatError;

namespace {

// Runs f, expects exception E whose what() contains every fragment.
template <typename E, typename F>
void expect_error(F&& f, std::initializer_list<const char*> fragments) {
  try {
    f();
    FAIL() << "expected an exception";
  } catch (const E& e) {
    const std::string what = e.what();
    for (const char* frag : fragments) {
      EXPECT_NE(what.find(frag), std::string::npos) << "missing '" << frag << "' in: " << what;
    }
  }
}

void parse_only(const std::string& src) { Template t(src); }

}  // namespace

// ---- syntax errors: FormatError with line and column ----

TEST(SyntaxError, UnclosedIfNamesTheMissingTag) {
  expect_error<FormatError>([] { parse_only("{% if x %}\nyes"); }, {"[templates]", "endif", "line 2"});
}

TEST(SyntaxError, MissingOperandPointsAtTheColumn) {
  // "{{ 1 + }}": the '}}' that should have been an operand is at column 8.
  expect_error<FormatError>([] { parse_only("{{ 1 + }}"); },
                            {"line 1, column 8", "expected an expression", "{{ 1 + }}", "       ^"});
}

TEST(SyntaxError, ErrorOnALaterLineShowsThatLine) {
  // Line 3 is "  {{ a b }}"; the unexpected name 'b' is at column 8.
  expect_error<FormatError>([] { parse_only("line one\nline two\n  {{ a b }}\nline four"); },
                            {"line 3, column 8", "  {{ a b }}"});
}

TEST(SyntaxError, UnterminatedString) {
  expect_error<FormatError>([] { parse_only("{{ 'abc }}"); }, {"unterminated string", "line 1, column 4"});
}

TEST(SyntaxError, UnterminatedComment) {
  expect_error<FormatError>([] { parse_only("a {# never closed"); }, {"missing end of comment"});
}

TEST(SyntaxError, UnterminatedPrintTag) {
  expect_error<FormatError>([] { parse_only("{{ x "); }, {"unexpected end of template"});
}

TEST(SyntaxError, UnknownTag) {
  expect_error<FormatError>([] { parse_only("{% include 'x.html' %}"); }, {"unknown tag 'include'"});
}

TEST(SyntaxError, StrayEndTag) {
  expect_error<FormatError>([] { parse_only("{% endfor %}"); }, {"unknown tag 'endfor'"});
}

TEST(SyntaxError, UnknownFilterOutsideAnIf) {
  expect_error<FormatError>([] { parse_only("{{ x | from_json }}"); }, {"no filter named 'from_json'"});
}

TEST(SyntaxError, UnknownTestOutsideAnIf) {
  expect_error<FormatError>([] { parse_only("{{ x is blue }}"); }, {"no test named 'blue'"});
}

TEST(SyntaxError, BreakOutsideALoop) {
  expect_error<FormatError>([] { parse_only("{% if true %}{% break %}{% endif %}"); }, {"'break' outside loop"});
}

TEST(SyntaxError, MismatchedBrackets) {
  expect_error<FormatError>([] { parse_only("{{ (1, 2] }}"); }, {"unexpected ']'"});
}

TEST(SyntaxError, BadHexEscape) {
  expect_error<FormatError>([] { parse_only("{{ '\\xZZ' }}"); }, {"truncated \\x escape"});
}

TEST(SyntaxError, NestingDeeperThanTheLimit) {
  const std::string deep = "{{ " + std::string(400, '(') + "1" + std::string(400, ')') + " }}";
  expect_error<FormatError>([&] { parse_only(deep); }, {"nested too deeply"});
}

TEST(SyntaxError, UnknownFilterInsideAnIfFailsOnlyWhenReached) {
  // Jinja defers the check inside if blocks: the untaken branch renders fine...
  EXPECT_EQ(render("{% if false %}{{ x | nope }}{% endif %}ok"), "ok");
  // ...and the taken one fails at render time.
  expect_error<TemplateRenderError>([] { render("{% if true %}{{ x | nope }}{% endif %}"); },
                                    {"no filter named 'nope'"});
}

// ---- raise_exception ----

TEST(RaiseException, CarriesTheTemplatesMessage) {
  try {
    render("{% if messages | length == 0 %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}",
           json{{"messages", json::array()}});
    FAIL() << "expected TemplateRaised";
  } catch (const TemplateRaised& e) {
    EXPECT_EQ(e.template_message(), "Conversation roles must alternate user/assistant/user/assistant/...");
    EXPECT_NE(std::string(e.what()).find("[templates] template raised: Conversation roles"), std::string::npos);
  }
}

TEST(RaiseException, IsAnMlxcelError) {
  EXPECT_THROW(render("{{ raise_exception('no') }}"), mlxcel::Error);
}

// ---- runtime failures: TemplateRenderError naming the line ----

TEST(RenderError, AttributeOfUndefined) {
  try {
    render("ok\n{{ m.a.b }}", json{{"m", json::object()}});
    FAIL() << "expected TemplateRenderError";
  } catch (const TemplateRenderError& e) {
    EXPECT_TRUE(e.undefined());
    const std::string what = e.what();
    EXPECT_NE(what.find("'dict object' has no attribute 'a'"), std::string::npos) << what;
    EXPECT_NE(what.find("line 2"), std::string::npos) << what;
  }
}

TEST(RenderError, ItemOfAnUndefinedVariable) {
  expect_error<TemplateRenderError>([] { render("{{ nothing['x'] }}"); }, {"'nothing' is undefined"});
}

TEST(RenderError, CallingAnUndefinedFunction) {
  expect_error<TemplateRenderError>([] { render("{{ helper() }}"); }, {"'helper' is undefined"});
}

TEST(RenderError, StringPlusInteger) {
  expect_error<TemplateRenderError>([] { render("{{ 'a' + 1 }}"); }, {"can only concatenate str (not \"int\") to str"});
}

TEST(RenderError, OrderingIncomparableTypes) {
  expect_error<TemplateRenderError>([] { render("{{ 1 < 'a' }}"); }, {"'<' not supported between instances of 'int' and 'str'"});
}

TEST(RenderError, DivisionByZero) {
  expect_error<TemplateRenderError>([] { render("{{ 1 // 0 }}"); }, {"division or modulo by zero"});
}

TEST(RenderError, IntegerOverflow) {
  expect_error<TemplateRenderError>([] { render("{{ 2 ** 64 }}"); }, {"does not fit in 64 bits"});
}

TEST(RenderError, TojsonOfUndefined) {
  expect_error<TemplateRenderError>([] { render("{{ missing | tojson }}"); }, {"Object of type Undefined is not JSON serializable"});
}

TEST(RenderError, AssigningAnAttributeOfANonNamespace) {
  expect_error<TemplateRenderError>([] { render("{% set d = {} %}{% set d.x = 1 %}"); }, {"cannot assign attribute on non-namespace object"});
}

TEST(RenderError, UnpackingTheWrongNumberOfValues) {
  expect_error<TemplateRenderError>([] { render("{% set a, b = [1, 2, 3] %}"); }, {"too many values to unpack (expected 2)"});
}

TEST(RenderError, MacroGivenTooManyArguments) {
  expect_error<TemplateRenderError>([] { render("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}"); },
                                    {"macro 'm' takes not more than 1 argument(s)"});
}

TEST(RenderError, MacroGivenAnUnknownKeyword) {
  expect_error<TemplateRenderError>([] { render("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=2) }}"); },
                                    {"macro 'm' takes no keyword argument 'b'"});
}

TEST(RenderError, IteratingNone) {
  expect_error<TemplateRenderError>([] { render("{% for t in tools %}{% endfor %}", json{{"tools", nullptr}}); },
                                    {"'NoneType' object is not iterable"});
}

TEST(RenderError, ContextMustBeAnObject) {
  expect_error<FormatError>([] { render("x", json::array()); }, {"context must be a JSON object"});
}

// ---- limits against runaway templates ----

TEST(Limits, EndlessMacroRecursionStops) {
  expect_error<TemplateRenderError>([] { render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"); },
                                    {"macro calls nested deeper than 200"});
}

TEST(Limits, OutputSizeIsCapped) {
  RenderOptions o = test_options();
  o.limits.max_output_bytes = 1000;
  // 200 iterations x 10 bytes = 2000 bytes > 1000.
  expect_error<TemplateRenderError>(
      [&] { Template("{% for i in range(200) %}0123456789{% endfor %}", o).render(json::object()); },
      {"over the limit of 1000 bytes"});
}

TEST(Limits, LoopIterationsAreCapped) {
  RenderOptions o = test_options();
  o.limits.max_loop_iterations = 500;
  // 30 x 30 = 900 inner iterations (+30 outer) > 500.
  expect_error<TemplateRenderError>(
      [&] { Template("{% for i in range(30) %}{% for j in range(30) %}{% endfor %}{% endfor %}", o).render(json::object()); },
      {"more than 500 loop iterations"});
}

TEST(Limits, RangeLongerThanTheSandboxAllows) {
  expect_error<TemplateRenderError>([] { render("{{ range(100001) | length }}"); }, {"Range too big"});
}

TEST(Limits, RepeatedStringTooLarge) {
  expect_error<TemplateLimitExceeded>([] { render("{{ 'x' * 100000000 }}"); },
                                      {"a repeated string of 100000000 bytes is over the limit of 67108864 bytes (max_output_bytes)"});
}

TEST(Limits, StackBudgetStopsDeepRecursionCleanly) {
  RenderOptions o = test_options();
  o.limits.max_call_depth = 1'000'000;
  o.limits.max_stack_bytes = 256 << 10;
  expect_error<TemplateRenderError>(
      [&] {
        Template("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(100000) }}", o)
            .render(json::object());
      },
      {"nested too deeply", "262144 bytes of stack"});
}

TEST(Limits, RecursionAsDeepAsJinjaAllowsStillWorks) {
  // python3-jinja2 manages 150 nested macro calls (and fails near 200 on Python's recursion
  // limit); the default limits must allow at least as much.
  EXPECT_EQ(render("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(150) }}x"), "x");
}

TEST(RenderError, PercentFormattingWithTooFewArguments) {
  expect_error<TemplateRenderError>([] { render("{{ '%s and %s' % ('one',) }}"); }, {"not enough arguments for format string"});
}

TEST(RenderError, PercentFormattingWithTooManyArguments) {
  expect_error<TemplateRenderError>([] { render("{{ '%s' % ('one', 'two') }}"); }, {"not all arguments converted"});
}

TEST(Limits, PercentFormattingWidthIsCapped) {
  expect_error<TemplateRenderError>([] { render("{{ '%*d' % (100000000000, 1) }}"); }, {"width or precision is too large"});
}
