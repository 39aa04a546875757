// Tokenizer-specific code point helpers: Unicode White_Space and the GPT-2 byte <-> unicode table
// that byte-level BPE vocabularies are written in. UTF-8 decoding and repair are in core/utf8.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace mlxcel::tok {

// Unicode White_Space (what Rust's char::is_whitespace tests).
bool is_unicode_whitespace(uint32_t cp);

// GPT-2's reversible byte -> printable code point map used by byte-level BPE.
const std::array<uint32_t, 256>& byte_to_codepoint();
// Inverse: -1 for code points that are not the image of a byte.
int byte_from_codepoint(uint32_t cp);
// Maps every byte of `raw` to its code point (UTF-8 encoded).
std::string bytes_to_byte_level(std::string_view raw);

}  // namespace mlxcel::tok
