// Expected strings are what python3-jinja2 renders in the Hugging Face environment
// (tests/reference/render_template.py), checked by hand against the Jinja2 documentation.
#include <gtest/gtest.h>

#include "render_helpers.h"

using namespace mlxcel::templates::testing;

TEST(Statements, IfElifElse) {
  EXPECT_EQ(render("{% if 0 %}a{% elif '' %}b{% elif [1] %}c{% else %}d{% endif %}"), "c");
  EXPECT_EQ(render("{% if none %}a{% else %}b{% endif %}{% if 'x' is string and 1 %}c{% endif %}"), "bc");
}

TEST(Statements, ForLoopVariables) {
  EXPECT_EQ(render("{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"), "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}[{{ loop.previtem }}|{{ loop.nextitem }}]{{ loop.cycle('odd', 'even') }} {% endfor %}"), "[|2]odd [1|3]even [2|]odd ");
  EXPECT_EQ(render("{% for x in [1, 1, 2] %}{{ loop.changed(x) }} {% endfor %}"), "True False True ");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}none{% endfor %}|{% for x in [1, 2, 3, 4] if x is even %}{{ x }}/{{ loop.length }} {% else %}none{% endfor %}"), "none|2/2 4/2 ");
  EXPECT_EQ(render("{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }} {% endfor %}{% for k in {'z': 0, 'y': 1} %}{{ k }}{% endfor %} {% for c in 'hé' %}[{{ c }}]{% endfor %}"), "b=1 a=2 zy [h][é]");
  EXPECT_EQ(render("{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }} {% endfor %}{% for (a, b) in [[5, 6]] %}{{ a * b }}{% endfor %}"), "3 7 30");
  EXPECT_EQ(render("{% for x in [1, 2] %}{% for y in ['a', 'b'] %}{{ loop.index }}{{ x }}{{ y }} {% endfor %}{{ loop.index }}|{% endfor %}"), "11a 21b 1|12a 22b 2|");
}

TEST(Statements, BreakAndContinue) {
  EXPECT_EQ(render("{% for i in range(10) %}{% if i == 5 %}{% break %}{% endif %}{% if i is odd %}{% continue %}{% endif %}{{ i }}{% endfor %}"), "024");
  EXPECT_EQ(render("{% for i in [1, 2] %}{% break %}{% else %}else{% endfor %}done"), "elsedone");
  // The else block runs unless some iteration reached the end of the body.
  EXPECT_EQ(render("{% for i in [1, 2] %}{% if i == 2 %}{% break %}{% endif %}{% else %}else{% endfor %}done"), "done");
  EXPECT_EQ(render("{% for i in [1, 2] %}{% continue %}{% else %}else{% endfor %}done"), "elsedone");
  EXPECT_EQ(render("{% for i in [1, 2] %}{% if i == 1 %}{% continue %}{% endif %}x{% else %}else{% endfor %}done"), "xdone");
}

TEST(Statements, ScopingLikeJinja) {
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 10 %}{{ x }};{% endfor %}{{ x }}"), "111;111;1");
  EXPECT_EQ(render("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}"), "2");
  EXPECT_EQ(render("{% set ns = namespace(count=0, items=[]) %}{% for i in [3, 4] %}{% set ns.count = ns.count + i %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.count }} {{ ns.items }}"), "7 [3, 4]");
  EXPECT_EQ(render("{% macro show() %}{{ later }}{% endmacro %}{% set later = 'seen at call time' %}{{ show() }}"), "seen at call time");
  EXPECT_EQ(render("{% set a, b = [1, 'two'] %}{{ b }}{{ a }}"), "two1");
}

TEST(Statements, SetBlockCapturesOutput) {
  EXPECT_EQ(render("{% set block %}\n  Hello {{ 'world' }}\n{% endset %}[{{ block }}]"), "[  Hello world\n]");
  EXPECT_EQ(render("{% set shout | upper | trim %}  quiet  {% endset %}[{{ shout }}]"), "[QUIET]");
}

TEST(Statements, MacrosWithDefaultsVarargsAndCaller) {
  EXPECT_EQ(render("{% macro greet(name, greeting='Hello', punct=none) %}{{ greeting }}, {{ name }}{{ punct if punct else '.' }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', 'Hi') }} {{ greet('Cy', punct='!') }}"), "Hello, Ann. Hi, Bo. Hello, Cy!");
  EXPECT_EQ(render("{% macro m(a, b=a * 2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(3) }} {{ m(3, 1) }}"), "3-6 3-1");
  EXPECT_EQ(render("{% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}"), "1|(2, 3)|{'k': 'v'}");
  EXPECT_EQ(render("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold{% endcall %}"), "<b>bold</b>");
  EXPECT_EQ(render("{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}({{ item }}){% endcall %}"), "(1)(2)");
  EXPECT_EQ(render("{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1) | int) }}{% endif %}{% endmacro %}{{ fact(5) }}"), "120");
  EXPECT_EQ(render("{% macro m(x) %}[{{ x }}]{% endmacro %}{{ m() }}"), "[]");
}

TEST(Statements, FilterBlockAndWith) {
  EXPECT_EQ(render("{% filter upper %}shout {{ 'this' }}{% endfilter %}"), "SHOUT THIS");
  EXPECT_EQ(render("{% filter replace('a', 'o') | title %}a banana{% endfilter %}"), "O Bonono");
  EXPECT_EQ(render("{% set x = 1 %}{% with x = 2, y = x %}{{ x }}{{ y }}{% endwith %}{{ x }}"), "211");
}

TEST(Statements, GenerationBlockRendersItsBody) {
  EXPECT_EQ(render("{% for m in ['a', 'b'] %}{% generation %}<{{ m }}>{% endgeneration %}{% endfor %}"), "<a><b>");
}

