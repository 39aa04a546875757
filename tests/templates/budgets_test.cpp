// The render's budgets hold whatever builds the strings and lists: each construct the adversarial
// test used to take 2-4 GB now stops at RenderLimits with TemplateLimitExceeded naming the limit
// and the template position. The tests lower the limits so that they are fast, and keep sizes
// small enough that a regression shows as a missing exception, not as gigabytes allocated.
#include <gtest/gtest.h>

#include <string>

#include "render_helpers.h"

using namespace mlxcel::templates;
using namespace mlxcel::templates::testing;

namespace {

constexpr uint64_t kMiB = 1 << 20;

// Renders with max_memory_bytes = memory (and the default other limits).
std::string render_with_memory(const std::string& src, uint64_t memory) {
  return render_limited(src, [memory](RenderLimits& l) { l.max_memory_bytes = memory; });
}

// Renders with max_output_bytes = bytes.
std::string render_with_output(const std::string& src, uint64_t bytes) {
  return render_limited(src, [bytes](RenderLimits& l) { l.max_output_bytes = bytes; });
}

}  // namespace

// ---- memory held by values ----

TEST(MemoryBudget, ListDoublingStops) {
  // 2^20 items (32 MiB) if nothing stopped it; the 1 MiB budget stops it near 2^15.
  expect_limit(
      [] {
        render_with_memory("{% set ns = namespace(l=[1]) %}{% for i in range(20) %}"
                           "{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}",
                           kMiB);
      },
      "max_memory_bytes",
      {"render failed at line 1, column", "more than 1048576 bytes (max_memory_bytes)",
       "a + concatenation"});
}

TEST(MemoryBudget, ListRepetitionStops) {
  expect_limit([] { render_with_memory("{{ ([1] * 500000) | length }}", kMiB); }, "max_memory_bytes",
               {"a repeated list"});
}

TEST(MemoryBudget, ManyStringsHeldInAListStop) {
  // Each string is within every per-string limit; together they are 6.4 MB.
  expect_limit(
      [] {
        render_with_memory("{% set l = [] %}{% for i in range(64) %}"
                           "{% set _ = l.append('x' * 100000 ~ i) %}{% endfor %}{{ l | length }}",
                           kMiB);
      },
      "max_memory_bytes", {"max_memory_bytes"});
}

TEST(MemoryBudget, ListsExtendedInPlaceStop) {
  expect_limit(
      [] {
        render_with_memory("{% set l = [1] %}{% for i in range(20) %}{% set _ = l.extend(l) %}"
                           "{% endfor %}{{ l | length }}",
                           kMiB);
      },
      "max_memory_bytes", {"max_memory_bytes"});
}

TEST(MemoryBudget, ListsAppendedToStop) {
  // 100 x 100 appends of 32 bytes each is 320 kB.
  expect_limit(
      [] {
        render_with_memory("{% set l = [] %}{% for i in range(100) %}{% for j in range(100) %}"
                           "{% set _ = l.append(j) %}{% endfor %}{% endfor %}{{ l | length }}",
                           256 << 10);
      },
      "max_memory_bytes", {"max_memory_bytes"});
}

TEST(MemoryBudget, HeldRangesStop) {
  // range() is capped at 100 000 items (3.2 MB each); holding 30 of them is not.
  expect_limit(
      [] {
        render_with_memory("{% set l = [] %}{% for i in range(30) %}{% set _ = l.append(range(100000)) %}"
                           "{% endfor %}{{ l | length }}",
                           8 * kMiB);
      },
      "max_memory_bytes", {"max_memory_bytes"});
}

TEST(MemoryBudget, BatchPaddingStops) {
  // batch(n, fill) pads the last batch to n items: a huge n is a huge list.
  expect_limit([] { render_with_memory("{{ [1] | batch(3000000, 0) | list | length }}", kMiB); },
               "max_memory_bytes", {"a batch"});
}

TEST(MemoryBudget, SplittingIntoManyPartsStops) {
  expect_limit([] { render_with_memory("{{ (',' * 300000).split(',') | length }}", kMiB); },
               "max_memory_bytes", {"the parts of a split string"});
}

TEST(MemoryBudget, IteratingTheCharactersOfALongStringStops) {
  expect_limit([] { render_with_memory("{{ ('x' * 300000) | list | length }}", kMiB); },
               "max_memory_bytes", {"the characters of a string"});
}

TEST(MemoryBudget, RecursiveMacrosHoldingTheirOutputStop) {
  // Every level holds 100 kB of output while the next one runs: 10 MB at 100 levels.
  expect_limit(
      [] {
        render_with_memory("{% macro f(n) %}{{ 'x' * 100000 }}{% if n > 0 %}{{ f(n - 1) }}{% endif %}"
                           "{% endmacro %}{{ f(100) | length }}",
                           kMiB);
      },
      "max_memory_bytes", {"max_memory_bytes"});
}

TEST(MemoryBudget, ConcatenationHeldAcrossMacroCallsStops) {
  expect_limit(
      [] {
        render_with_memory("{% macro f(n) %}{{ ('x' * 100000) ~ (f(n - 1) if n > 0 else '') }}"
                           "{% endmacro %}{{ f(100) | length }}",
                           kMiB);
      },
      "max_memory_bytes", {"max_memory_bytes"});
}

TEST(MemoryBudget, MacrosDefinedInALoopStop) {
  // Each definition keeps its loop iteration's scope alive until the render ends.
  expect_limit(
      [] {
        render_with_memory("{% for i in range(100000) %}{% macro m() %}{% endmacro %}{% endfor %}",
                           8 * kMiB);
      },
      "max_memory_bytes", {"max_memory_bytes"});
}

TEST(MemoryBudget, ManyDictEntriesStop) {
  // 3600 entries of 64 bytes; dict lookups are linear, so the budget is small to keep this fast.
  expect_limit(
      [] {
        render_with_memory("{% set d = {} %}{% for i in range(60) %}{% for j in range(60) %}"
                           "{% set _ = d.update({i * 100 + j: j}) %}{% endfor %}{% endfor %}{{ d | length }}",
                           128 << 10);
      },
      "max_memory_bytes", {"a container grown in place"});
}

TEST(MemoryBudget, OrdinaryTemplatesFitEasily) {
  // A real chat template over a longer conversation stays far below the default budget.
  json messages = json::array();
  for (int i = 0; i < 200; ++i) {
    messages.push_back({{"role", i % 2 ? "assistant" : "user"}, {"content", std::string(2000, 'a' + i % 26)}});
  }
  const std::string src =
      "{% for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}{% if not loop.last %}\n"
      "{% endif %}{% endfor %}{{ messages | tojson | length > 0 }}";
  const std::string out = Template(src, test_options()).render(json{{"messages", messages}});
  EXPECT_GT(out.size(), 400000u);
}

// ---- any one string ----

TEST(OutputBudget, StringDoublingWithPlusStops) {
  // 16 MiB if nothing stopped it.
  expect_limit(
      [] {
        render_with_output("{% set ns = namespace(s='x') %}{% for i in range(24) %}"
                           "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
                           kMiB);
      },
      "max_output_bytes", {"a + concatenation of 2097152 bytes is over the limit of 1048576 bytes (max_output_bytes)"});
}

TEST(OutputBudget, StringDoublingWithTildeStops) {
  expect_limit(
      [] {
        render_with_output("{% set ns = namespace(s='x') %}{% for i in range(24) %}"
                           "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
                           kMiB);
      },
      "max_output_bytes", {"a ~ concatenation"});
}

TEST(OutputBudget, StringRepetitionStops) {
  expect_limit([] { render_with_output("{{ ('ab' * 1000000) | length }}", kMiB); }, "max_output_bytes",
               {"a repeated string of 2000000 bytes is over the limit of 1048576 bytes"});
}

TEST(OutputBudget, JoinMethodStops) {
  expect_limit([] { render_with_output("{{ ('x' * 1000).join(range(2000) | map('string')) | length }}", kMiB); },
               "max_output_bytes", {"a joined string"});
}

TEST(OutputBudget, JoinFilterStops) {
  expect_limit([] { render_with_output("{{ range(100000) | join('x' * 100) | length }}", kMiB); },
               "max_output_bytes", {"a joined string"});
}

TEST(OutputBudget, ReplaceFilterStopsBeforeBuilding) {
  expect_limit([] { render_with_output("{{ ('x' * 1000) | replace('x', 'y' * 10000) | length }}", kMiB); },
               "max_output_bytes", {"a replaced string of 10000000 bytes"});
}

TEST(OutputBudget, ReplaceMethodStopsBeforeBuilding) {
  expect_limit([] { render_with_output("{{ ('x' * 1000).replace('', 'y' * 10000) | length }}", kMiB); },
               "max_output_bytes", {"a replaced string of 10011000 bytes"});
}

TEST(OutputBudget, CenterWithAHugeWidthStops) {
  expect_limit([] { render_with_output("{{ 'x' | center(2000000) | length }}", kMiB); },
               "max_output_bytes", {"a padded string"});
  expect_limit([] { render("{{ 'x'.ljust(100000000000) | length }}"); }, "max_output_bytes",
               {"a padded string"});
}

TEST(OutputBudget, IndentWithAHugeWidthStops) {
  expect_limit([] { render_with_output("{{ ('\\n' * 1000) | indent(60000, blank=true) | length }}", kMiB); },
               "max_output_bytes", {"an indented string"});
}

TEST(OutputBudget, PercentFormattingManyWideFieldsStops) {
  expect_limit([] { render_with_output("{{ (('%100000s' * 100) % ((1,) * 100)) | length }}", kMiB); },
               "max_output_bytes", {"a %-formatted string"});
}

TEST(OutputBudget, FormatMethodRepeatingAFieldStops) {
  expect_limit([] { render_with_output("{{ ('{0}' * 1000).format('x' * 10000) | length }}", kMiB); },
               "max_output_bytes", {"a formatted string"});
}

TEST(OutputBudget, EscapingStops) {
  // Each quote becomes 5 bytes.
  expect_limit([] { render_with_output("{{ ('\"' * 300000) | escape | length }}", kMiB); },
               "max_output_bytes", {"an escaped string of 1500000 bytes"});
}

TEST(OutputBudget, PrintingAHugeListStops) {
  expect_limit([] { render_with_output("{{ (range(100000) | list) ~ '' }}", 100000); },
               "max_output_bytes", {"a printed list"});
}

TEST(OutputBudget, TojsonWithAHugeIndentStops) {
  expect_limit([] { render_with_output("{{ ([[[[[1]]]]] * 1000) | tojson(indent=1000) | length }}", kMiB); },
               "max_output_bytes", {"tojson's output"});
}

TEST(OutputBudget, TheOutputItselfStops) {
  expect_limit([] { render_with_output("{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}", kMiB); },
               "max_output_bytes", {"the template output of", "over the limit of 1048576 bytes"});
}

// ---- time ----

TEST(TimeBudget, QuadraticUniqueStops) {
  // 12.5 million comparisons.
  expect_limit([] { render_limited("{{ range(5000) | unique | list | length }}", [](RenderLimits& l) { l.max_render_ms = 1; }); },
               "max_render_ms", {"rendering took longer than 1 ms (max_render_ms)"});
}

TEST(TimeBudget, ComparingSharedStructuresStops) {
  // a and b are 22 levels of [x, x]: equal, but comparing them visits 4 million leaves (and 2^40
  // with 40 levels, which only the time budget stops).
  expect_limit(
      [] {
        render_limited("{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(22) %}"
                       "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}"
                       "{{ ns.a == ns.b }}",
                       [](RenderLimits& l) { l.max_render_ms = 5; });
      },
      "max_render_ms", {"max_render_ms"});
}

TEST(TimeBudget, LongLoopsStop) {
  expect_limit(
      [] {
        render_limited("{% for i in range(1000) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
                       [](RenderLimits& l) { l.max_render_ms = 1; });
      },
      "max_render_ms", {"max_render_ms"});
}

TEST(TimeBudget, SummingStringsStops) {
  // Each + copies the total so far: 5000 strings of 1 kB copy 12.5 GB in all.
  expect_limit(
      [] {
        render_limited("{{ (['x' * 1000] * 5000) | sum(start='') | length }}",
                       [](RenderLimits& l) { l.max_render_ms = 20; });
      },
      "max_render_ms", {"max_render_ms"});
}

// ---- the limit errors ----

TEST(LimitErrors, AreTemplateRenderErrors) {
  // The server maps TemplateRenderError; a limit is one, with the field's name on top.
  try {
    render_with_output("{{ 'x' * 2000 }}", 1000);
    FAIL() << "expected an exception";
  } catch (const TemplateRenderError& e) {
    EXPECT_NE(dynamic_cast<const TemplateLimitExceeded*>(&e), nullptr);
    EXPECT_FALSE(e.undefined());
    EXPECT_NE(std::string(e.what()).find("[templates] render failed at line 1, column"), std::string::npos)
        << e.what();
  }
}

TEST(LimitErrors, OtherFailuresAreNotLimits) {
  try {
    render("{{ 1 // 0 }}");
    FAIL() << "expected an exception";
  } catch (const TemplateRenderError& e) {
    EXPECT_EQ(dynamic_cast<const TemplateLimitExceeded*>(&e), nullptr);
  }
}

TEST(LimitErrors, ExistingLimitsAreLimitErrorsToo) {
  expect_limit([] { render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"); }, "max_call_depth",
               {"macro calls nested deeper than 200 (max_call_depth)"});
  expect_limit(
      [] { render_limited("{% for i in range(600) %}{% endfor %}", [](RenderLimits& l) { l.max_loop_iterations = 500; }); },
      "max_loop_iterations", {"more than 500 loop iterations (max_loop_iterations)"});
}

TEST(LimitErrors, HugeValuesInMessagesAreCutShort) {
  // The message quotes the value it could not find; the client gets the first 2000 bytes.
  try {
    render("{{ [1].index('x' * 100000) }}");
    FAIL() << "expected an exception";
  } catch (const TemplateRenderError& e) {
    const std::string what = e.what();
    EXPECT_LT(what.size(), 2500u);
    EXPECT_NE(what.find("more bytes)"), std::string::npos) << what.substr(0, 200);
  }
}

TEST(LimitErrors, TheBudgetEndsWithTheRender) {
  // A template reused after a failed render starts with a fresh budget.
  RenderOptions o = test_options();
  o.limits.max_memory_bytes = kMiB;
  const Template t("{% if big %}{{ ('x' * 100000) * 20 }}{% endif %}ok", o);
  EXPECT_THROW(t.render(json{{"big", true}}), TemplateLimitExceeded);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(t.render(json{{"big", false}}), "ok");
}
