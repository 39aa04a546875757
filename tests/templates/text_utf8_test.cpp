// text::decode / text::encode carry bytes that are not UTF-8 through as U+DC00 + byte (Python's
// surrogateescape), one code point per malformed byte, unlike the tokenizer's U+FFFD repair.
// Expected code points are worked out by hand from the UTF-8 bit layout.
#include <gtest/gtest.h>

#include <string>

#include "templates/text.h"

using namespace mlxcel::templates;

TEST(TextDecode, WellFormedInput) {
  // C3 A9 = 110 00011, 10 101001 -> 00011101001 = 0xE9; F0 9F 98 80 -> 0x1F600.
  EXPECT_EQ(text::decode("a\xC3\xA9\xF0\x9F\x98\x80"), (std::u32string{0x61, 0xE9, 0x1F600}));
  EXPECT_EQ(text::length("a\xC3\xA9\xF0\x9F\x98\x80"), 3u);
}

TEST(TextDecode, OverlongBecomesEscapedBytes) {
  EXPECT_EQ(text::decode("\xC0\x80"), (std::u32string{0xDCC0, 0xDC80}));
}

TEST(TextDecode, SurrogateBecomesEscapedBytes) {
  EXPECT_EQ(text::decode("\xED\xA0\x80"), (std::u32string{0xDCED, 0xDCA0, 0xDC80}));
}

TEST(TextDecode, BrokenSequenceIsEscapedByteByByte) {
  // The tokenizer's utf8_lossy gives one U+FFFD for E2 82 here; templates keep both bytes.
  EXPECT_EQ(text::decode("\xE2\x82"
                         "A"),
            (std::u32string{0xDCE2, 0xDC82, 0x41}));
  EXPECT_EQ(text::length("\xE2\x82"
                         "A"),
            3u);
}

TEST(TextDecode, TruncatedAndAboveMaxAreEscaped) {
  EXPECT_EQ(text::decode("\xF0\x9F\x98"), (std::u32string{0xDCF0, 0xDC9F, 0xDC98}));
  EXPECT_EQ(text::decode("\xF4\x90\x80\x80"), (std::u32string{0xDCF4, 0xDC90, 0xDC80, 0xDC80}));
  EXPECT_EQ(text::decode("\xFF"), (std::u32string{0xDCFF}));
}

TEST(TextEncode, EscapedBytesComeBackUnchanged) {
  const std::string raw = "x\xC0\x80\xED\xA0\x80\xE2\x82"
                          "A\xFF";
  EXPECT_EQ(text::encode(text::decode(raw)), raw);
}

TEST(TextEncode, OnlyDC80ToDCFFAreBytes) {
  std::string out;
  text::append_utf8(out, 0xDC80);
  EXPECT_EQ(out, "\x80");
  out.clear();
  text::append_utf8(out, 0xDCFF);
  EXPECT_EQ(out, "\xFF");
  // 0xDC7F = 1101 110001 111111 -> ED, 80|31 = B1, BF: encoded as three bytes like any other.
  out.clear();
  text::append_utf8(out, 0xDC7F);
  EXPECT_EQ(out, "\xED\xB1\xBF");
  // 0xE9 -> C3 A9.
  out.clear();
  text::append_utf8(out, 0xE9);
  EXPECT_EQ(out, "\xC3\xA9");
}
