// Recursive walks over values (printing, tojson, comparing, sorting, destroying) must survive
// values that contain themselves or nest without bound. Python's answers are the expected ones
// where Python has one (it prints [[...]] for a list inside itself, and `l == l` is True by
// identity); where Python raises RecursionError, the render fails with TemplateLimitExceeded.
// Before the walks were bounded, each of these crashed the process with a stack overflow.
#include <gtest/gtest.h>

#include <string>

#include "render_helpers.h"

using namespace mlxcel::templates;
using namespace mlxcel::templates::testing;

namespace {

const char* kSelfList = "{% set l = [] %}{% set _ = l.append(l) %}";
const char* kSelfDict = "{% set d = {} %}{% set _ = d.update({'me': d}) %}";
// Two distinct lists, each inside itself: comparing them never reaches a non-list.
const char* kTwoSelfLists =
    "{% set a = [] %}{% set _ = a.append(a) %}{% set b = [] %}{% set _ = b.append(b) %}";

}  // namespace

// ---- printing: Python's recursion markers ----

TEST(SelfContainingValues, ListPrintsWithARecursionMarker) {
  EXPECT_EQ(render(std::string(kSelfList) + "{{ l }}"), "[[...]]");
}

TEST(SelfContainingValues, DictPrintsWithARecursionMarker) {
  EXPECT_EQ(render(std::string(kSelfDict) + "{{ d }}"), "{'me': {...}}");
}

TEST(SelfContainingValues, NamespacePrintsWithARecursionMarker) {
  // Jinja's Namespace repr is the repr of its attribute dict, which Python marks as {...}.
  EXPECT_EQ(render("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns }}"),
            "<Namespace {'a': 1, 'me': <Namespace {...}>}>");
}

TEST(SelfContainingValues, StringFilterAndConcatenationPrintTheSame) {
  EXPECT_EQ(render(std::string(kSelfList) + "{{ l | string }}|{{ 'x' ~ l }}|{{ [l, 1] }}"),
            "[[...]]|x[[...]]|[[[...]], 1]");
}

TEST(SelfContainingValues, ListThroughATupleAndDict) {
  // l -> tuple -> dict -> l: only the list recurs.
  EXPECT_EQ(render("{% set l = [] %}{% set _ = l.append(({'k': l},)) %}{{ l }}"), "[({'k': [...]},)]");
}

// ---- tojson: Python's "Circular reference detected" ----

TEST(SelfContainingValues, TojsonOfASelfContainingListFails) {
  try {
    render(std::string(kSelfList) + "{{ l | tojson }}");
    FAIL() << "expected TemplateRenderError";
  } catch (const TemplateRenderError& e) {
    EXPECT_NE(std::string(e.what()).find("Circular reference detected"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
  }
}

TEST(SelfContainingValues, TojsonOfASelfContainingDictFails) {
  try {
    render(std::string(kSelfDict) + "{{ d | tojson(indent=2) }}");
    FAIL() << "expected TemplateRenderError";
  } catch (const TemplateRenderError& e) {
    EXPECT_NE(std::string(e.what()).find("Circular reference detected"), std::string::npos) << e.what();
  }
}

TEST(SelfContainingValues, TojsonOfASharedButAcyclicValueWorks) {
  // The same list twice is not a cycle.
  EXPECT_EQ(render("{% set x = [1] %}{{ [x, x] | tojson }}"), "[[1], [1]]");
}

// ---- comparisons ----

TEST(SelfContainingValues, EqualsItselfByIdentity) {
  EXPECT_EQ(render(std::string(kSelfList) + "{{ l == l }} {{ l != l }} {{ l in l }} {{ [l] == [l] }}"),
            "True False True True");
  EXPECT_EQ(render(std::string(kSelfDict) + "{{ d == d }} {{ d in [d] }}"), "True True");
}

TEST(SelfContainingValues, ComparingTwoDistinctOnesHitsTheNestingLimit) {
  expect_limit([] { render(std::string(kTwoSelfLists) + "{{ a == b }}"); }, "max_nesting_depth",
               {"values nested deeper than 256 levels while comparing", "line 1, column"});
}

TEST(SelfContainingValues, MembershipTestHitsTheNestingLimit) {
  expect_limit([] { render(std::string(kTwoSelfLists) + "{{ a in [b] }}"); }, "max_nesting_depth",
               {"while comparing"});
}

TEST(SelfContainingValues, OrderingHitsTheNestingLimit) {
  expect_limit([] { render(std::string(kTwoSelfLists) + "{{ a < b }}"); }, "max_nesting_depth",
               {"while comparing"});
}

TEST(SelfContainingValues, SortingHitsTheNestingLimit) {
  expect_limit([] { render(std::string(kTwoSelfLists) + "{{ [a, b] | sort }}"); }, "max_nesting_depth",
               {"while comparing"});
}

TEST(SelfContainingValues, UniqueHitsTheNestingLimit) {
  expect_limit([] { render(std::string(kTwoSelfLists) + "{{ [a, b] | unique | list }}"); },
               "max_nesting_depth", {"while comparing"});
}

TEST(SelfContainingValues, DictsComparedHitTheNestingLimit) {
  expect_limit(
      [] {
        render("{% set a = {} %}{% set _ = a.update({'k': a}) %}{% set b = {} %}"
               "{% set _ = b.update({'k': b}) %}{{ a == b }}");
      },
      "max_nesting_depth", {"while comparing"});
}

TEST(SelfContainingValues, LoopChangedOfTheLoopItselfDoesNotLeak) {
  // loop.changed keeps what it saw; holding the loop forms a cycle the render must break
  // (LeakSanitizer checks this at exit).
  EXPECT_EQ(render("{% for i in [1, 2] %}{{ loop.changed(loop) }} {% endfor %}"), "True False ");
}

TEST(SelfContainingValues, FilterChainsOverThemWork) {
  EXPECT_EQ(render(std::string(kSelfList) + "{{ l | list | length }} {{ l | first | length }} {{ l | count }}"),
            "1 1 1");
}

// ---- deep but finite values ----

namespace {

// A list nested `depth` levels deep (a multiple of `step`), left in `l`: the template wraps it
// in `step` brackets per loop iteration (in a namespace: a plain set inside a loop does not
// outlive the iteration).
std::string nested_list(int depth, int step = 1) {
  return "{% set ns = namespace(l=[]) %}{% for i in range(" + std::to_string(depth / step) +
         ") %}{% set ns.l = " + std::string(step, '[') + "ns.l" + std::string(step, ']') +
         " %}{% endfor %}{% set l = ns.l %}";
}

}  // namespace

TEST(DeepValues, BuildingAndFreeingAHundredThousandLevelsDoesNotRecurse) {
  // Freed recursively, some 40 000 levels overflow an 8 MiB stack under ASan; freed in a loop
  // any depth is fine.
  EXPECT_EQ(render(nested_list(100000, 50) + "{{ l | length }}"), "1");
}

TEST(DeepValues, PrintingPastTheLimitFails) {
  expect_limit([] { render(nested_list(1000) + "{{ l }}"); }, "max_nesting_depth",
               {"values nested deeper than 256 levels while printing"});
}

TEST(DeepValues, TojsonPastTheLimitFails) {
  expect_limit([] { render(nested_list(1000) + "{{ l | tojson }}"); }, "max_nesting_depth",
               {"while serializing"});
}

TEST(DeepValues, ComparingPastTheLimitFails) {
  expect_limit([] { render(nested_list(1000) + "{% set m = l %}" + nested_list(1000) + "{{ l == m }}"); },
               "max_nesting_depth", {"while comparing"});
}

TEST(DeepValues, WithinTheLimitTheyPrint) {
  EXPECT_EQ(render(nested_list(3) + "{{ l }} {{ l | tojson }}"), "[[[[]]]] [[[[]]]]");
}

TEST(DeepValues, TheLimitIsConfigurable) {
  RenderOptions o = test_options();
  o.limits.max_nesting_depth = 8;
  expect_limit([&] { Template(nested_list(10) + "{{ l }}", o).render(json::object()); },
               "max_nesting_depth", {"deeper than 8 levels"});
  EXPECT_EQ(Template(nested_list(5) + "{{ l }}", o).render(json::object()), "[[[[[[]]]]]]");
}

TEST(DeepValues, ChainBuiltByAppendingIsFreedAndRefusedWhenPrinted) {
  // Each level is a list changed in place, the path the interpreter empties at the end.
  const std::string src =
      "{% set root = [] %}{% set ns = namespace(cur=root) %}{% for i in range(3000) %}"
      "{% set next = [] %}{% set _ = ns.cur.append(next) %}{% set ns.cur = next %}{% endfor %}";
  EXPECT_EQ(render(src + "{{ root | length }}"), "1");
  expect_limit([&] { render(src + "{{ root }}"); }, "max_nesting_depth", {"while printing"});
}

TEST(DeepValues, DeepContextValuesAreFreedToo) {
  // The context is JSON nested 500 levels (what the loader accepts); the render does not walk it.
  const json deep = json::parse(std::string(500, '[') + std::string(500, ']'));
  EXPECT_EQ(render("{{ x | length }}", json{{"x", deep}}), "1");
  expect_limit([&] { render("{{ x }}", json{{"x", deep}}); }, "max_nesting_depth", {"while printing"});
}
