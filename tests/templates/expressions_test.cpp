// Expected strings are what python3-jinja2 renders in the Hugging Face environment
// (tests/reference/render_template.py), checked by hand against the Jinja2 documentation.
#include <gtest/gtest.h>

#include "render_helpers.h"

using namespace mlxcel::templates::testing;

TEST(Literals, PrintLikePython) {
  EXPECT_EQ(render("{{ 42 }} {{ -7 }} {{ 1_000 }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }}"), "42 -7 1000 31 5 15");
  EXPECT_EQ(render("{{ 1.5 }} {{ 2.0 }} {{ 1e3 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1.0e-7 }} {{ 0.1 + 0.2 }}"), "1.5 2.0 1000.0 1e+16 1000000000000000.0 0.0001 1e-05 1e-07 0.30000000000000004");
  EXPECT_EQ(render("{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}"), "True True False None None");
  EXPECT_EQ(render("{{ [1, 'a', 2.5, none, true] }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ {'k': 'v', 'n': [1]} }} {{ {} }}"), "[1, 'a', 2.5, None, True] (1,) (1, 2) () {'k': 'v', 'n': [1]} {}");
  EXPECT_EQ(render("{{ ['it\\'s', \"say \\\"hi\\\"\", 'both \\' \"', 'tab\\there', 'nl\\n'] }}"), "[\"it's\", 'say \"hi\"', 'both \\' \"', 'tab\\there', 'nl\\n']");
  EXPECT_EQ(render("{{ 'adjacent' ' strings' }}"), "adjacent strings");
  EXPECT_EQ(render("{{ 'esc: \\n|\\t|\\\\|\\x41|\\u00e9|\\101|\\d' }}"), "esc: \n|\t|\\|A|é|A|\\d");
}

TEST(Arithmetic, FollowsPython) {
  EXPECT_EQ(render("{{ 7 + 3 }} {{ 7 - 10 }} {{ 6 * 7 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}"), "10 -3 42 3.5 4.0 3 -4 1 2 1024 0.5");
  EXPECT_EQ(render("{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + 1.5 }} {{ true + 1 }} {{ 3 * 'ab' }} {{ 'ab' * 2 }} {{ [1] * 3 }} {{ [1, 2] + [3] }}"), "3.0 0.5 2.5 2 ababab abab [1, 1, 1] [1, 2, 3]");
  EXPECT_EQ(render("{{ 'con' ~ 'cat' ~ 1 ~ none ~ 2.5 ~ true }}"), "concat1None2.5True");
  EXPECT_EQ(render("{{ 'a' + 'b' }}"), "ab");
}

TEST(Arithmetic, PrecedenceMatchesJinja) {
  EXPECT_EQ(render("{{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ 10 - 2 - 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 100 / 10 / 5 }}"), "14 20 5 64 4 2.0");
  EXPECT_EQ(render("{{ -3 | abs }} {{ 1 ~ 2 + 3 ~ 4 if false else 'cond' }}"), "3 cond");
  EXPECT_EQ(render("{{ 'a' ~ 'b' | upper }} {{ not 1 == 2 }} {{ not true or true }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}"), "aB True True True False");
  EXPECT_EQ(render("{{ 1 if true else 2 }} {{ 1 if false else 2 if false else 3 }} [{{ 'x' if false }}]"), "1 3 []");
}

TEST(Comparisons, EqualityAndOrderingFollowPython) {
  EXPECT_EQ(render("{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' == 'a' }} {{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1.0} }} {{ (1,) == [1] }} {{ none == none }} {{ 1 != '1' }}"), "True True True True True False True True");
  EXPECT_EQ(render("{{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }} {{ 2 >= 2.0 }} {{ 'B' < 'a' }}"), "True True True True");
  EXPECT_EQ(render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1, 2] }} {{ not 'z' in 'abc' }}"), "True True True True True");
  EXPECT_EQ(render("{{ true and 'x' }}|{{ false or 'y' }}|{{ 0 or none }}|{{ '' and 1 }}|{{ [] or 'empty' }}"), "x|y|None||empty");
}

TEST(Access, AttributesAndItems) {
  EXPECT_EQ(render("{{ m.role }} {{ m['content'] }} {{ m.get('role') }} {{ m.get('x', 'dflt') }} {{ m.get('x') }}", json::parse(R"({"m": {"role": "user", "content": "hi"}})")), "user hi user dflt None");
  EXPECT_EQ(render("{{ xs[0] }} {{ xs[-1] }} {{ xs.1 }} [{{ xs[5] }}] {{ s[1] }} {{ s[-1] }}", json::parse(R"({"xs": [10, 20, 30], "s": "héllo"})")), "10 30 20 [] é o");
  EXPECT_EQ(render("[{{ m.missing }}] [{{ m['missing'] }}] {{ m.missing is defined }} {{ none.attr is defined }} {{ s.nope is defined }}", json::parse(R"({"m": {"a": 1}, "s": "str"})")), "[] [] False False False");
  EXPECT_EQ(render("{{ d.items is string }}|{{ d['items'] }}", json::parse(R"({"d": {"items": "key wins with []"}})")), "False|key wins with []");
}

TEST(Access, Slicing) {
  EXPECT_EQ(render("{{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[1:3] }} {{ xs[-2:] }} {{ xs[5:] }} {{ xs[:] }}", json::parse(R"({"xs": [0, 1, 2, 3, 4]})")), "[1, 2, 3, 4] [0, 1, 2, 3] [4, 3, 2, 1, 0] [0, 2, 4] [1, 2] [3, 4] [] [0, 1, 2, 3, 4]");
  EXPECT_EQ(render("{{ s[1:3] }} {{ s[::-1] }} {{ s[-3:] }}", json::parse(R"({"s": "héllo wörld"})")), "él dlröw olléh rld");
  EXPECT_EQ(render("{{ t[1:] }}", json::parse(R"({"t": [1]})")), "[]");
}

TEST(Undefined, RendersEmptyAndIsFalsy) {
  EXPECT_EQ(render("[{{ missing }}] {{ missing is defined }} {{ missing is undefined }} {{ not missing }} {{ missing | length }} {{ missing | default('d') }}"), "[] False True True 0 d");
  EXPECT_EQ(render("{% for x in missing %}never{% else %}empty loop{% endfor %} {{ 'a' in missing }} {{ missing == missing }} {{ missing ~ 'x' }}"), "empty loop False True x");
  EXPECT_EQ(render("{{ missing is iterable }} {{ missing is sequence }} {{ missing is mapping }} {{ missing is string }} {{ missing | list }} {{ missing | join(',') }}[{{ missing | trim }}]"), "True True False False [] []");
}

TEST(Arithmetic, PercentFormattingLikePython) {
  EXPECT_EQ(render("{{ '%s is %d years' % ('Ann', 42.9) }}|{{ '%5.2f|%-6s|%03d|%+d|%x|%#o|%e' % (3.14159, 'ab', 7, 5, 255, 8, 12345.678) }}"), "Ann is 42 years| 3.14|ab    |007|+5|ff|0o10|1.234568e+04");
  EXPECT_EQ(render("{{ '%(name)s: %(n)05.1f' % {'name': 'v', 'n': 2.5} }}|{{ '%r %s %%' % ('q', none) }}|{{ 'no fields' % {} }}|{{ '%c%c' % (72, 'i') }}|{{ '%*d|%.*f' % (4, 7, 1, 2.25) }}"), "v: 002.5|'q' None %|no fields|Hi|   7|2.2");
}

