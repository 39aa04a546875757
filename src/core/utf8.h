// UTF-8 encoding, decoding and validation shared by the tokenizer and the chat templates, so both
// agree on which bytes form a character. Well-formedness is Unicode's (Table 3-7): overlong
// forms, surrogates (U+D800..U+DFFF), code points above U+10FFFF and truncated sequences are
// malformed. What to do with malformed bytes (U+FFFD, surrogateescape) is left to the caller.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mlxcel {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Appends the UTF-8 encoding of `cp` (must be a valid scalar value: surrogates come out as the
// three bytes ED xx xx, and values above U+10FFFF are not encodable).
void append_utf8(std::string& out, char32_t cp);

// Length in bytes of the well-formed UTF-8 sequence at s[pos], or 0 if it is malformed or
// truncated (Unicode "maximal subpart" rules: overlongs, surrogates and > U+10FFFF are malformed).
size_t valid_sequence_length(std::string_view s, size_t pos);

// Decodes the code point at s[pos] of a string known to be valid UTF-8 and advances pos.
char32_t next_codepoint(std::string_view s, size_t& pos);

// Byte length of the code point starting with lead byte `b` in valid UTF-8.
inline size_t utf8_char_len(unsigned char b) {
  return b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : 4;
}

bool is_valid_utf8(std::string_view s);

// Copies `s`, replacing each maximal ill-formed subpart with U+FFFD (as Rust's
// String::from_utf8_lossy and the WHATWG decoder do).
std::string utf8_lossy(std::string_view s);

// For streaming: how many leading bytes of `s` can be emitted now. Everything is emittable except
// a trailing sequence that is a proper prefix of some well-formed character (it may complete).
size_t utf8_emittable_prefix(std::string_view s);

}  // namespace mlxcel
