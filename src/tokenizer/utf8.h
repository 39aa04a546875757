// UTF-8 helpers for the tokenizer: code point iteration, lossy repair, stream boundaries, and the
// GPT-2 byte <-> unicode table that byte-level BPE vocabularies are written in.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mlxcel::tok {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Appends the UTF-8 encoding of `cp` (must be a valid scalar value).
void append_utf8(std::string& out, uint32_t cp);

// Length in bytes of the well-formed UTF-8 sequence at s[pos], or 0 if it is malformed or
// truncated (Unicode "maximal subpart" rules: overlongs, surrogates and > U+10FFFF are malformed).
size_t valid_sequence_length(std::string_view s, size_t pos);

// Decodes the code point at s[pos] of a string known to be valid UTF-8 and advances pos.
uint32_t next_codepoint(std::string_view s, size_t& pos);

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

// Unicode White_Space (what Rust's char::is_whitespace tests).
bool is_unicode_whitespace(uint32_t cp);

// GPT-2's reversible byte -> printable code point map used by byte-level BPE.
const std::array<uint32_t, 256>& byte_to_codepoint();
// Inverse: -1 for code points that are not the image of a byte.
int byte_from_codepoint(uint32_t cp);
// Maps every byte of `raw` to its code point (UTF-8 encoded).
std::string bytes_to_byte_level(std::string_view raw);

}  // namespace mlxcel::tok
