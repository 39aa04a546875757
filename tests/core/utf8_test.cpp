// Expected bytes are worked out by hand from the UTF-8 bit layout (RFC 3629 / Unicode 3.9):
//   U+0000..U+007F   0xxxxxxx
//   U+0080..U+07FF   110xxxxx 10xxxxxx
//   U+0800..U+FFFF   1110xxxx 10xxxxxx 10xxxxxx
//   U+10000..U+10FFFF 11110xxx 10xxxxxx 10xxxxxx 10xxxxxx
// and the replacement counts from Unicode's "maximal subpart" practice (Table 3-8 / 3-11).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/utf8.h"

using namespace mlxcel;

namespace {

std::string encoded(char32_t cp) {
  std::string out;
  append_utf8(out, cp);
  return out;
}

// U+FFFD = EF BF BD.
const std::string kFFFD = "\xEF\xBF\xBD";

}  // namespace

TEST(Utf8Encode, EachLengthAndItsBoundaries) {
  struct Case {
    char32_t cp;
    std::string bytes;
  };
  const Case cases[] = {
      {0x00, std::string(1, '\0')},
      {0x41, "A"},
      {0x7F, "\x7F"},
      {0x80, "\xC2\x80"},        // 00010 000000 -> C0|02, 80|00
      {0xE9, "\xC3\xA9"},        // 00011 101001 -> C0|03 = C3, 80|29 = A9
      {0x7FF, "\xDF\xBF"},       // 11111 111111
      {0x800, "\xE0\xA0\x80"},   // 0000 100000 000000 -> E0, 80|20 = A0, 80
      {0x20AC, "\xE2\x82\xAC"},  // 0010 000010 101100 -> E2, 80|02, 80|2C
      {0xFFFD, "\xEF\xBF\xBD"},  // 1111 111111 111101 -> EF, BF, 80|3D = BD
      {0xFFFF, "\xEF\xBF\xBF"},
      {0x10000, "\xF0\x90\x80\x80"},   // 000 010000 000000 000000 -> F0, 80|10 = 90, 80, 80
      {0x1F600, "\xF0\x9F\x98\x80"},   // 000 011111 011000 000000 -> F0, 9F, 80|18 = 98, 80
      {0x10FFFF, "\xF4\x8F\xBF\xBF"},  // 100 001111 111111 111111 -> F0|4 = F4, 80|0F, BF, BF
  };
  for (const Case& c : cases)
    EXPECT_EQ(encoded(c.cp), c.bytes) << "U+" << std::hex << uint32_t{c.cp};
  EXPECT_EQ(encoded(kReplacementChar), kFFFD);
}

TEST(Utf8Encode, AppendsToWhatIsThere) {
  std::string out = "x";
  append_utf8(out, 0xE9);
  append_utf8(out, 0x41);
  EXPECT_EQ(out,
            "x\xC3\xA9"
            "A");
}

TEST(Utf8CharLen, FromLeadByte) {
  EXPECT_EQ(utf8_char_len(0x41), 1u);
  EXPECT_EQ(utf8_char_len(0x7F), 1u);
  EXPECT_EQ(utf8_char_len(0xC3), 2u);  // 110xxxxx
  EXPECT_EQ(utf8_char_len(0xDF), 2u);
  EXPECT_EQ(utf8_char_len(0xE2), 3u);  // 1110xxxx
  EXPECT_EQ(utf8_char_len(0xEF), 3u);
  EXPECT_EQ(utf8_char_len(0xF0), 4u);  // 11110xxx
  EXPECT_EQ(utf8_char_len(0xF4), 4u);
}

TEST(Utf8ValidSequence, WellFormedLengths) {
  EXPECT_EQ(valid_sequence_length("A", 0), 1u);
  EXPECT_EQ(valid_sequence_length("\xC3\xA9", 0), 2u);
  EXPECT_EQ(valid_sequence_length("\xE2\x82\xAC", 0), 3u);
  EXPECT_EQ(valid_sequence_length("\xF0\x9F\x98\x80", 0), 4u);
  EXPECT_EQ(valid_sequence_length("\xF4\x8F\xBF\xBF", 0), 4u);  // U+10FFFF, the last one
  // Position inside a string, with bytes after the sequence.
  EXPECT_EQ(valid_sequence_length("a\xC3\xA9z", 1), 2u);
}

TEST(Utf8ValidSequence, RejectsOverlongForms) {
  EXPECT_EQ(valid_sequence_length("\xC0\x80", 0), 0u);          // U+0000 in two bytes
  EXPECT_EQ(valid_sequence_length("\xC1\xBF", 0), 0u);          // U+007F in two bytes
  EXPECT_EQ(valid_sequence_length("\xE0\x80\x80", 0), 0u);      // U+0000 in three bytes
  EXPECT_EQ(valid_sequence_length("\xE0\x9F\xBF", 0), 0u);      // U+07FF in three bytes
  EXPECT_EQ(valid_sequence_length("\xF0\x8F\xBF\xBF", 0), 0u);  // U+FFFF in four bytes
}

TEST(Utf8ValidSequence, RejectsSurrogates) {
  EXPECT_EQ(valid_sequence_length("\xED\xA0\x80", 0), 0u);  // U+D800
  EXPECT_EQ(valid_sequence_length("\xED\xBF\xBF", 0), 0u);  // U+DFFF
  // Neighbours on each side are fine.
  EXPECT_EQ(valid_sequence_length("\xED\x9F\xBF", 0), 3u);  // U+D7FF
  EXPECT_EQ(valid_sequence_length("\xEE\x80\x80", 0), 3u);  // U+E000
}

TEST(Utf8ValidSequence, RejectsAboveMaxCodePoint) {
  EXPECT_EQ(valid_sequence_length("\xF4\x90\x80\x80", 0), 0u);  // U+110000
  EXPECT_EQ(valid_sequence_length("\xF5\x80\x80\x80", 0), 0u);
  EXPECT_EQ(valid_sequence_length("\xFF", 0), 0u);
}

TEST(Utf8ValidSequence, RejectsLoneContinuationAndBadContinuation) {
  EXPECT_EQ(valid_sequence_length("\x80", 0), 0u);
  EXPECT_EQ(valid_sequence_length("\xBF", 0), 0u);
  EXPECT_EQ(valid_sequence_length("\xC3"
                                  "A",
                                  0),
            0u);
  EXPECT_EQ(valid_sequence_length("\xE2\x28\xA1", 0), 0u);
}

TEST(Utf8ValidSequence, RejectsTruncated) {
  EXPECT_EQ(valid_sequence_length("\xC3", 0), 0u);
  EXPECT_EQ(valid_sequence_length("\xE2\x82", 0), 0u);
  EXPECT_EQ(valid_sequence_length("\xF0\x9F\x98", 0), 0u);
  EXPECT_EQ(valid_sequence_length("ab\xF0\x9F", 2), 0u);
}

TEST(Utf8NextCodepoint, DecodesAndAdvances) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  size_t pos = 0;
  EXPECT_EQ(next_codepoint(s, pos), U'a');
  EXPECT_EQ(pos, 1u);
  EXPECT_EQ(next_codepoint(s, pos), char32_t{0xE9});
  EXPECT_EQ(pos, 3u);
  EXPECT_EQ(next_codepoint(s, pos), char32_t{0x20AC});
  EXPECT_EQ(pos, 6u);
  EXPECT_EQ(next_codepoint(s, pos), char32_t{0x1F600});
  EXPECT_EQ(pos, 10u);
}

TEST(Utf8NextCodepoint, RangeEnds) {
  const std::string s = "\x7F\xDF\xBF\xEF\xBF\xBF\xF4\x8F\xBF\xBF";
  size_t pos = 0;
  EXPECT_EQ(next_codepoint(s, pos), char32_t{0x7F});
  EXPECT_EQ(next_codepoint(s, pos), char32_t{0x7FF});
  EXPECT_EQ(next_codepoint(s, pos), char32_t{0xFFFF});
  EXPECT_EQ(next_codepoint(s, pos), char32_t{0x10FFFF});
  EXPECT_EQ(pos, s.size());
}

TEST(Utf8IsValid, WholeStrings) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("a\xC0\x80"));
  EXPECT_FALSE(is_valid_utf8("a\xED\xA0\x80"));
  EXPECT_FALSE(is_valid_utf8("abc\xE2\x82"));  // truncated at the end
  EXPECT_FALSE(
      is_valid_utf8("\x80"
                    "abc"));
}

TEST(Utf8Lossy, ValidInputIsCopied) {
  const std::string s = "h\xC3\xA9llo \xF0\x9F\x98\x80";
  EXPECT_EQ(utf8_lossy(s), s);
  EXPECT_EQ(utf8_lossy(""), "");
}

TEST(Utf8Lossy, OverlongIsOneReplacementPerByte) {
  // C0 can never start a character and 80 is a lone continuation: two maximal subparts.
  EXPECT_EQ(utf8_lossy("\xC0\x80"), kFFFD + kFFFD);
}

TEST(Utf8Lossy, SurrogateIsOneReplacementPerByte) {
  // ED allows only 80..9F next, so ED, A0 and 80 are each their own subpart (Table 3-11).
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), kFFFD + kFFFD + kFFFD);
}

TEST(Utf8Lossy, BrokenSequenceIsOneReplacement) {
  // E2 82 is a valid start of U+20AC; 'A' breaks it: one U+FFFD for E2 82, then 'A'.
  EXPECT_EQ(utf8_lossy("\xE2\x82"
                       "A"),
            kFFFD + "A");
  // Truncated at the end: the three bytes are one subpart.
  EXPECT_EQ(utf8_lossy("x\xF0\x9F\x98"), "x" + kFFFD);
}

TEST(Utf8Lossy, AboveMaxCodePoint) {
  // F4 allows only 80..8F next, so F4 90 80 80 is four subparts.
  EXPECT_EQ(utf8_lossy("\xF4\x90\x80\x80"), kFFFD + kFFFD + kFFFD + kFFFD);
  EXPECT_EQ(utf8_lossy("a\xFF"
                       "b"),
            "a" + kFFFD + "b");
}

TEST(Utf8Lossy, UnicodeTable3_8Example) {
  // Unicode 3.9, Table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 gives
  // 61 FFFD FFFD FFFD 62 FFFD 63 FFFD FFFD 64.
  const std::string in = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  EXPECT_EQ(utf8_lossy(in), "a" + kFFFD + kFFFD + kFFFD + "b" + kFFFD + "c" + kFFFD + kFFFD + "d");
}

TEST(Utf8EmittablePrefix, CompleteTextIsAllEmittable) {
  EXPECT_EQ(utf8_emittable_prefix(""), 0u);
  EXPECT_EQ(utf8_emittable_prefix("abc"), 3u);
  EXPECT_EQ(utf8_emittable_prefix("a\xF0\x9F\x98\x80"), 5u);
}

TEST(Utf8EmittablePrefix, HoldsBackATrailingPrefixThatMayComplete) {
  EXPECT_EQ(utf8_emittable_prefix("ab\xE2"), 2u);
  EXPECT_EQ(utf8_emittable_prefix("ab\xE2\x82"), 2u);
  EXPECT_EQ(utf8_emittable_prefix("\xF0\x9F\x98"), 0u);
}

TEST(Utf8EmittablePrefix, EmitsWhatCanNeverComplete) {
  EXPECT_EQ(utf8_emittable_prefix("ab\xC0"), 3u);      // C0 starts nothing
  EXPECT_EQ(utf8_emittable_prefix("ab\xED\xA0"), 4u);  // would be a surrogate
  EXPECT_EQ(utf8_emittable_prefix("\xE2\x82"
                                  "A"),
            3u);  // already broken by 'A'
}
