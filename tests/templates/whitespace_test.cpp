// Expected strings are what python3-jinja2 renders in the Hugging Face environment
// (tests/reference/render_template.py), checked by hand against the Jinja2 documentation.
#include <gtest/gtest.h>

#include "render_helpers.h"

using namespace mlxcel::templates::testing;

TEST(Whitespace, TrimBlocksDropsTheNewlineAfterABlockTag) {
  EXPECT_EQ(render("{% if true %}\nyes\n{% endif %}\nafter"), "yes\nafter");
  EXPECT_EQ(render("{% set x = 1 %}\n\n{{ x }}"), "\n1");
  EXPECT_EQ(render("{{ 'a' }}\n{{ 'b' }}\n"), "a\nb");
  EXPECT_EQ(render("{# comment #}\nnext"), "next");
}

TEST(Whitespace, LstripBlocksRemovesIndentBeforeBlockTags) {
  EXPECT_EQ(render("    {% if true %}\n    x\n    {% endif %}\n    y"), "    x\n    y");
  EXPECT_EQ(render("a\n\t  {% if true %}b{% endif %}"), "a\nb");
  EXPECT_EQ(render("a  {% if true %}b{% endif %}"), "a  b");
  EXPECT_EQ(render("  {{ 'var' }} {% if true %}k{% endif %}"), "  var k");
  EXPECT_EQ(render("line\n  {# note #}\nnext"), "line\nnext");
}

TEST(Whitespace, MinusStripsAllWhitespaceOnThatSide) {
  EXPECT_EQ(render("a  \n\n  {%- if true -%}  \n\n  b  \n  {%- endif -%}\n\n  c"), "abc");
  EXPECT_EQ(render("x {{- ' y ' -}} z"), "x y z");
  EXPECT_EQ(render("x\n  {#- c -#}\n  z"), "xz");
  EXPECT_EQ(render("{% for i in [1, 2, 3] -%}\n  {{ i }}\n{%- endfor %}"), "123");
}

TEST(Whitespace, PlusKeepsWhitespace) {
  EXPECT_EQ(render("a\n  {%+ if true %}b{% endif %}"), "a\n  b");
  EXPECT_EQ(render("{% if true +%}\nkept{% endif %}"), "\nkept");
}

TEST(Whitespace, RawBlocksAreCopiedVerbatim) {
  EXPECT_EQ(render("{% raw %}{{ not evaluated }} {% if %}{% endraw %}"), "{{ not evaluated }} {% if %}");
  EXPECT_EQ(render("x {%- raw -%}  {{ y }}  {%- endraw -%} z"), "x{{ y }}z");
}

TEST(Whitespace, OneTrailingNewlineOfTheTemplateIsDropped) {
  EXPECT_EQ(render("text\n"), "text");
  EXPECT_EQ(render("text\n\n"), "text\n");
  EXPECT_EQ(render("line1\r\nline2\rline3\n"), "line1\nline2\nline3");
}

