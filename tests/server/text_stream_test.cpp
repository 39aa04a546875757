#include <gtest/gtest.h>

#include "server/text_stream.h"

namespace mlxcel::server {
namespace {

std::string feed(TextStream& s, std::initializer_list<std::string_view> pieces) {
  std::string out;
  for (auto p : pieces) out += s.push(p);
  return out;
}

TEST(TextStream, PassesPlainTextThroughAtOnce) {
  TextStream s;
  EXPECT_EQ(s.push("Hel"), "Hel");
  EXPECT_EQ(s.push("lo"), "lo");
  EXPECT_EQ(s.finish(), "");
  EXPECT_FALSE(s.stopped());
}

TEST(TextStream, HoldsASplitUtf8CharacterUntilComplete) {
  // "é" is C3 A9 and "€" is E2 82 AC: each arrives one byte per token.
  TextStream s;
  EXPECT_EQ(s.push("caf\xC3"), "caf");
  EXPECT_EQ(s.push("\xA9"), "\xC3\xA9");
  EXPECT_EQ(s.push("\xE2"), "");
  EXPECT_EQ(s.push("\x82"), "");
  EXPECT_EQ(s.push("\xAC!"), "\xE2\x82\xAC!");
}

TEST(TextStream, ReplacesInvalidBytes) {
  TextStream s;
  // A lone continuation byte can never complete: U+FFFD (EF BF BD) at once.
  EXPECT_EQ(s.push("a\x80"
                   "b"),
            "a\xEF\xBF\xBD"
            "b");
}

TEST(TextStream, FinishFlushesATruncatedCharacterAsReplacement) {
  TextStream s;
  EXPECT_EQ(s.push("x\xE2\x82"), "x");
  EXPECT_EQ(s.finish(), "\xEF\xBF\xBD");
}

TEST(TextStream, StopStringInOneTokenCutsBeforeIt) {
  TextStream s({"END"});
  EXPECT_EQ(s.push("abcENDdef"), "abc");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.push("more"), "");
  EXPECT_EQ(s.finish(), "");
}

TEST(TextStream, StopStringSplitAcrossTokensIsNeverEmitted) {
  TextStream s({"END"});
  EXPECT_EQ(s.push("abE"), "ab");  // "E" may start "END": held
  EXPECT_EQ(s.push("N"), "");      // "EN" still may
  EXPECT_EQ(s.push("D"), "");      // complete: dropped
  EXPECT_TRUE(s.stopped());
}

TEST(TextStream, HeldPrefixIsReleasedWhenItDoesNotContinue) {
  TextStream s({"END"});
  EXPECT_EQ(s.push("xE"), "x");
  EXPECT_EQ(s.push("Nx"), "ENx");
  EXPECT_FALSE(s.stopped());
}

TEST(TextStream, HeldPrefixIsFlushedAtTheEnd) {
  TextStream s({"END"});
  EXPECT_EQ(s.push("xEN"), "x");
  EXPECT_EQ(s.finish(), "EN");
}

TEST(TextStream, EarliestOfSeveralStopStringsWins) {
  TextStream s({"cd", "b"});
  EXPECT_EQ(s.push("abcd"), "a");
  EXPECT_TRUE(s.stopped());
}

TEST(TextStream, OverlappingPrefixRestartsCorrectly) {
  // "aab": after "aa" the tail "a" and "aa" are both prefixes; the longest is held.
  TextStream s({"aab"});
  EXPECT_EQ(s.push("a"), "");
  EXPECT_EQ(s.push("a"), "");
  EXPECT_EQ(s.push("a"), "a");  // "aaa": the first "a" can no longer start "aab"
  EXPECT_EQ(s.push("b"), "");
  EXPECT_TRUE(s.stopped());
}

TEST(TextStream, MultibyteStopStringSplitInsideACharacter) {
  // Stop "€" (E2 82 AC) arrives byte by byte after text.
  TextStream s({"\xE2\x82\xAC"});
  EXPECT_EQ(feed(s, {"5", "\xE2", "\x82", "\xAC", "x"}), "5");
  EXPECT_TRUE(s.stopped());
}

TEST(TextStream, EmptyStopStringsAreIgnored) {
  TextStream s({""});
  EXPECT_EQ(s.push("abc"), "abc");
  EXPECT_FALSE(s.stopped());
}

}  // namespace
}  // namespace mlxcel::server
