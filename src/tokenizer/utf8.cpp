#include "tokenizer/utf8.h"

#include "core/utf8.h"

namespace mlxcel::tok {

bool is_unicode_whitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

namespace {

struct ByteLevelTables {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> from_cp{};
  ByteLevelTables() {
    from_cp.fill(-1);
    // Printable Latin-1 bytes map to themselves; the rest take code points 256, 257, ... in
    // byte order, so every byte becomes a visible character.
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_cp[b] = printable ? b : next++;
      from_cp[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

const std::array<uint32_t, 256>& byte_to_codepoint() { return tables().to_cp; }

int byte_from_codepoint(uint32_t cp) { return cp < 512 ? tables().from_cp[cp] : -1; }

std::string bytes_to_byte_level(std::string_view raw) {
  const auto& t = tables().to_cp;
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) append_utf8(out, t[static_cast<unsigned char>(c)]);
  return out;
}

}  // namespace mlxcel::tok
