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

// ---- TokenStream: which tokens leave with which text ----------------------------------------

TokenLogprobs entry(std::string bytes) { return TokenLogprobs{{std::move(bytes), -1.0f}, {}, 0}; }

std::vector<std::string> tokens_of(const Piece& p) {
  std::vector<std::string> out;
  for (const auto& t : p.logprobs) out.push_back(t.chosen.bytes);
  return out;
}

TEST(TokenStream, EachTokenLeavesWithItsText) {
  TokenStream s({}, true);
  Piece a = s.push("He", entry("He"));
  EXPECT_EQ(a.text, "He");
  EXPECT_EQ(tokens_of(a), (std::vector<std::string>{"He"}));
  Piece b = s.push("llo", entry("llo"));
  EXPECT_EQ(b.text, "llo");
  ASSERT_EQ(b.logprobs.size(), 1u);
  EXPECT_EQ(b.logprobs[0].text_offset, 2u);
  EXPECT_TRUE(s.finish().empty());
}

TEST(TokenStream, SplitCharacterWaitsForItsLastByte) {
  TokenStream s({}, true);
  Piece first = s.push("\xE2\x82", entry("\xE2\x82"));
  EXPECT_TRUE(first.empty());
  Piece second = s.push("\xAC!", entry("\xAC!"));
  EXPECT_EQ(second.text, "\xE2\x82\xAC!");
  EXPECT_EQ(tokens_of(second), (std::vector<std::string>{"\xE2\x82", "\xAC!"}));
}

TEST(TokenStream, OffsetsCountCodePoints) {
  TokenStream s({}, true);
  s.push("\xC3\xA9\xC3\xA9", entry("ee"));
  Piece p = s.push("x", entry("x"));
  ASSERT_EQ(p.logprobs.size(), 1u);
  EXPECT_EQ(p.logprobs[0].text_offset, 2u);  // two characters, four bytes
}

TEST(TokenStream, TokensInsideAStopStringAreDropped) {
  TokenStream s({"STOP"}, true);
  EXPECT_EQ(s.push("ab", entry("ab")).text, "ab");
  EXPECT_TRUE(s.push("ST", entry("ST")).empty());
  Piece last = s.push("OPz", entry("OPz"));
  EXPECT_TRUE(s.stopped());
  EXPECT_TRUE(last.empty());
}

TEST(TokenStream, ATokenStraddlingTheStopStringIsKept) {
  TokenStream s({"STOP"}, true);
  Piece p = s.push("abST", entry("abST"));
  EXPECT_EQ(p.text, "ab");  // "ST" held
  EXPECT_TRUE(p.logprobs.empty());
  Piece q = s.push("OP", entry("OP"));
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(q.text, "");
  EXPECT_EQ(tokens_of(q), (std::vector<std::string>{"abST"}));  // its "ab" is in the output
}

TEST(TokenStream, FinishReleasesTheRest) {
  TokenStream s({"xyz"}, true);
  EXPECT_TRUE(s.push("x", entry("x")).empty());
  Piece end = s.finish();
  EXPECT_EQ(end.text, "x");
  EXPECT_EQ(tokens_of(end), (std::vector<std::string>{"x"}));
}

TEST(TokenStream, WithoutLogprobsOnlyText) {
  TokenStream s({}, false);
  Piece p = s.push("hi", entry("hi"));
  EXPECT_EQ(p.text, "hi");
  EXPECT_TRUE(p.logprobs.empty());
}

}  // namespace
}  // namespace mlxcel::server
