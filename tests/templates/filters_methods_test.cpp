// Expected strings are what python3-jinja2 renders in the Hugging Face environment
// (tests/reference/render_template.py), checked by hand against the Jinja2 documentation.
#include <gtest/gtest.h>

#include "render_helpers.h"

using namespace mlxcel::templates::testing;

TEST(Filters, StringFilters) {
  EXPECT_EQ(render("[{{ '  pad  ' | trim }}] [{{ 'xxhixx' | trim('x') }}] {{ 'MiXeD' | lower }} {{ 'MiXeD' | upper }} {{ 'hELLO wORLD' | capitalize }} {{ 'hello big-world (x[y' | title }}"), "[pad] [hi] mixed MIXED Hello world Hello Big-World (X[Y");
  EXPECT_EQ(render("{{ 'a-b-c' | replace('-', '+') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'one two  three' | wordcount }} [{{ 'x' | center(5) }}] {{ 3 | string }}{{ [1] | string }}"), "a+b+c bba 3 [  x  ] 3[1]");
  EXPECT_EQ(render("{{ 'line1\\nline2\\n\\nline4' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(4, blank=true) }}|{{ 'a\\nb' | indent('> ') }}"), "line1\n  line2\n\n  line4|  a\n  b|a\n    \n    b|a\n> b");
  EXPECT_EQ(render("{{ 'éß' | upper }} {{ 'ÀÉÎ' | lower }} {{ 'élan vital' | title }}"), "ÉSS àéî Élan Vital");
}

TEST(Filters, DefaultLengthFirstLast) {
  EXPECT_EQ(render("{{ missing | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }} {{ 0 | d(5, true) }} {{ missing | d }}|"), "d  d None 5 |");
  EXPECT_EQ(render("{{ [1, 2, 3] | length }} {{ 'héllo' | length }} {{ {'a': 1} | count }} {{ [4, 5] | first }} {{ [4, 5] | last }} {{ 'xyz' | first }} [{{ [] | first }}]"), "3 5 1 4 5 x []");
}

TEST(Filters, Numbers) {
  EXPECT_EQ(render("{{ '42' | int }} {{ '4.7' | int }} {{ 4.7 | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ '0x1A' | int(base=16) }} {{ true | int }} {{ none | int }}"), "42 4 4 0 7 26 1 0");
  EXPECT_EQ(render("{{ '2.5' | float }} {{ 3 | float }} {{ 'bad' | float }} {{ -3 | abs }} {{ -2.5 | abs }}"), "2.5 3.0 0.0 3 2.5");
  EXPECT_EQ(render("{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 7 | round }} {{ 1.26 | round(1, 'floor') }} {{ 1.21 | round(1, 'ceil') }}"), "2.0 4.0 2.67 7 1.2 1.3");
  EXPECT_EQ(render("{{ [1, 2, 3.5] | sum }} {{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }} {{ ['b', 'A', 'c'] | max }}"), "6.5 3 1 c");
}

TEST(Filters, Sequences) {
  EXPECT_EQ(render("{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'a'] | sort }} {{ ['b', 'A', 'a'] | sort(case_sensitive=true) }} {{ [1, 3, 2] | sort(reverse=true) }}"), "[1, 2, 3] ['A', 'a', 'b'] ['A', 'a', 'b'] [3, 2, 1]");
  EXPECT_EQ(render("{{ [{'n': 'b', 'v': 2}, {'n': 'a', 'v': 1}] | sort(attribute='n') | map(attribute='v') | list }}"), "[1, 2]");
  EXPECT_EQ(render("{{ [1, 2, 1, 3, 2] | unique | list }} {{ ['a', 'A', 'b'] | unique | list }} {{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }}"), "[1, 2, 3] ['a', 'b'] [3, 2, 1] cba");
  EXPECT_EQ(render("{{ [1, 2, 3] | join(', ') }} {{ [{'x': 'p'}, {'x': 'q'}] | join('-', attribute='x') }} {{ 'abc' | list }} {{ {'k': 1, 'j': 2} | list }}"), "1, 2, 3 p-q ['a', 'b', 'c'] ['k', 'j']");
  EXPECT_EQ(render("{{ ['a', 'b'] | map('upper') | list }} {{ [[1, 2], [3]] | map('join', '+') | list }} {{ [{'a': {'b': 1}}, {}] | map(attribute='a.b', default=0) | list }}"), "['A', 'B'] ['1+2', '3'] [1, 0]");
  EXPECT_EQ(render("{{ [1, 2, 3, 4] | select('even') | list }} {{ [1, 2, 3] | reject('equalto', 2) | list }} {{ [0, 1, '', 'x'] | select | list }} {{ [1, 5, 9] | select('gt', 4) | list }}"), "[2, 4] [1, 3] [1, 'x'] [5, 9]");
  EXPECT_EQ(render("{{ [{'r': 'a', 'ok': true}, {'r': 'b', 'ok': false}, {'r': 'c'}] | selectattr('ok') | map(attribute='r') | list }} {{ [{'r': 'a', 'ok': true}, {'r': 'b'}] | rejectattr('ok', 'defined') | map(attribute='r') | list }}"), "['a'] ['b']");
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5] | batch(2) | list }} {{ [1, 2, 3] | batch(2, 0) | list }}"), "[[1, 2], [3, 4], [5]] [[1, 2], [3, 0]]");
}

TEST(Filters, Mappings) {
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | items | list }} {{ {'b': 1, 'A': 3, 'a': 2} | dictsort }} {{ {'b': 1, 'a': 2} | dictsort(by='value', reverse=true) }} {{ missing | items | list }}"), "[('b', 1), ('a', 2)] [('A', 3), ('a', 2), ('b', 1)] [('a', 2), ('b', 1)] []");
}

TEST(Filters, TojsonIsPythonJsonDumps) {
  EXPECT_EQ(render("{{ v | tojson }}", json::parse(R"({"v": {"s": "é\"\\\n\t<&>", "i": 1, "f": 2.0, "g": 0.1, "n": null, "b": true, "l": [1, {}, []]}})")), "{\"s\": \"é\\\"\\\\\\n\\t<&>\", \"i\": 1, \"f\": 2.0, \"g\": 0.1, \"n\": null, \"b\": true, \"l\": [1, {}, []]}");
  EXPECT_EQ(render("{{ v | tojson(indent=2) }}", json::parse(R"({"v": {"a": [1, {"b": null}], "c": {}, "d": []}})")), "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ],\n  \"c\": {},\n  \"d\": []\n}");
  EXPECT_EQ(render("{{ v | tojson(ensure_ascii=True) }} {{ v | tojson(sort_keys=true) }} {{ v | tojson(separators=(',', ':')) }}", json::parse(R"({"v": {"z": "é😀", "a": [1, 2]}})")), "{\"z\": \"\\u00e9\\ud83d\\ude00\", \"a\": [1, 2]} {\"a\": [1, 2], \"z\": \"é😀\"} {\"z\":\"é😀\",\"a\":[1,2]}");
  EXPECT_EQ(render("{{ {1: 'int key', true: 'bool', none: 'null', 1.5: 'float'} | tojson }} {{ 'text' | tojson }} {{ (1, 'a') | tojson }}"), "{\"1\": \"bool\", \"null\": \"null\", \"1.5\": \"float\"} \"text\" [1, \"a\"]");
}

TEST(Filters, SafeAndEscapeFollowMarkupsafe) {
  EXPECT_EQ(render("{{ '<b>' | e }} {{ '<b>' | escape | escape }} {{ ('<a>' | safe) + '<b>' }} {{ '<c>' + ('<d>' | safe) }} {{ ('<e>' | safe) ~ '<f>' }} {{ [1] | safe | length }}"), "&lt;b&gt; &lt;b&gt; <a>&lt;b&gt; &lt;c&gt;<d> <e><f> 3");
}

TEST(Tests, TypeAndValueTests) {
  EXPECT_EQ(render("{{ 1 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is sequence }} {{ 'a' is sequence }} {{ 1 is iterable }}"), "True True True False True True True True True False");
  EXPECT_EQ(render("{{ none is none }} {{ false is false }} {{ 0 is false }} {{ true is true }} {{ true is boolean }} {{ 1 is boolean }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}"), "True True False True True False True True True False");
  EXPECT_EQ(render("{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aB' is lower }} {{ 2 is eq 2 }} {{ 2 is equalto 3 }} {{ 2 is ne 3 }} {{ 2 is lt 3 }} {{ 2 is ge 2 }} {{ 2 is in [1, 2] }} {{ none is sameas none }} {{ 'x' is not none }}"), "True True False True False True True True True True True");
  EXPECT_EQ(render("{{ range is callable }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ 'nope' is filter }}"), "True True True False");
}

TEST(Methods, StringMethods) {
  EXPECT_EQ(render("[{{ '  x  '.strip() }}] [{{ 'xxaxx'.strip('x') }}] [{{ '  x  '.lstrip() }}] [{{ '  x  '.rstrip() }}] [{{ '<<a>>'.rstrip('>') }}]"), "[x] [a] [x  ] [  x] [<<a]");
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }} {{ ' a  b c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'l1\\nl2\\r\\nl3'.splitlines() }}"), "['a', 'b', '', 'c'] ['a', 'b', 'c'] ['a', 'b,c'] ['a,b', 'c'] ['l1', 'l2', 'l3']");
  EXPECT_EQ(render("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'banana'.count('an') }} {{ 'héllo'.find('l') }}"), "True True 2 3 -1 2 2");
  EXPECT_EQ(render("{{ 'they\\'re bill\\'s'.title() }} {{ 'abc'.upper() }} {{ 'ABC'.lower() }} {{ 'a-b'.replace('-', '+') }} {{ ', '.join(['x', 'y']) }} {{ '{} and {}'.format(1, 'two') }} {{ '{0}{0}{name}'.format('r', name='!') }}"), "They'Re Bill'S ABC abc a+b x, y 1 and two rr!");
  EXPECT_EQ(render("{{ '42'.isdigit() }} {{ 'abc'.isalpha() }} {{ ' '.isspace() }} {{ 'x'.ljust(3) }}| {{ 'x'.rjust(3, '*') }} {{ 'prefix_x'.removeprefix('prefix_') }} {{ 'x.txt'.removesuffix('.txt') }}"), "True True True x  | **x x x");
}

TEST(Methods, DictAndListMethods) {
  EXPECT_EQ(render("{{ {'a': 1, 'b': 2}.items() | list }} {{ {'a': 1, 'b': 2}.keys() | list }} {{ {'a': 1, 'b': 2}.values() | list }} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z', 0) }}"), "[('a', 1), ('b', 2)] ['a', 'b'] [1, 2] 1 0");
  EXPECT_EQ(render("{{ [1, 2, 3].index(2) }} {{ [1, 1, 2].count(1) }}"), "1 2");
}

TEST(Globals, RangeDictNamespace) {
  EXPECT_EQ(render("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }} {{ namespace({'k': 2}, j=3).k }}"), "[0, 1, 2] [1, 3, 5] [5, 3, 1] {'a': 1, 'b': 'x'} 1 2");
  EXPECT_EQ(render("{{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%d %B %Y') }} {{ strftime_now('%a %b %-d, %j') }}"), "2025-03-14 09:26:53 14 March 2025 Fri Mar 14, 073");
}

