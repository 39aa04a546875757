// What the three tokenizer harnesses do with a tokenizer that loaded: encode a few short texts
// (and the input's own text part, if any) with and without special tokens, decode the ids back
// (whole and streamed), and look up a few ids that are out of range on purpose. Checks only what
// src/tokenizer/tokenizer.h promises: ids inside [0, vocab_size), special ids inside the
// vocabulary, decoded text and streamed pieces valid UTF-8.
#pragma once

#include <climits>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

namespace mlxcel::fuzz {

inline bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

inline void exercise_tokenizer(const Tokenizer& tok, std::string_view extra_text) {
  const int32_t vocab = tok.vocab_size();
  if (vocab < 0) broken_promise("negative vocab_size");
  auto check_id = [&](std::optional<int32_t> id, const char* what) {
    if (id && (*id < 0 || *id >= vocab)) {
      broken_promise(std::string(what) + " id " + std::to_string(*id) + " outside the vocabulary of " +
                     std::to_string(vocab));
    }
  };
  check_id(tok.bos_id(), "bos");
  check_id(tok.eos_id(), "eos");
  check_id(tok.unk_id(), "unk");

  std::vector<std::string_view> texts = {
      "Hello world! It's 2024-01-02, 12345 items.",
      "  leading spaces\n\n\ttab\r\nCRLF ",
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80 caf\xC3\xA9 \xD0\xBF\xD1\x80\xD0\xB8",
      "<s>[INST] hi [/INST]</s><|begin_of_text|><|eot_id|><|im_start|>user<|endoftext|>",
  };
  if (!extra_text.empty()) texts.push_back(extra_text);
  const EncodeOptions plain{false, false};
  const DecodeOptions skip{true};
  for (std::string_view text : texts) {
    for (const EncodeOptions& eo : {EncodeOptions{}, plain}) {
      const std::vector<int32_t> ids = tok.encode(text, eo);
      for (int32_t id : ids) check_id(id, "encoded");
      for (const DecodeOptions& dop : {DecodeOptions{}, skip}) {
        const std::string back = tok.decode(ids, dop);
        if (!is_valid_utf8(back)) broken_promise("decode returned invalid UTF-8");
        StreamDecoder stream = tok.stream_decoder(dop);
        for (int32_t id : ids) {
          if (!is_valid_utf8(stream.push(id))) broken_promise("stream piece is invalid UTF-8");
        }
        if (!is_valid_utf8(stream.flush())) broken_promise("stream flush is invalid UTF-8");
      }
    }
  }
  const std::vector<int32_t> odd = {-1, 0, 1, 2, 3, vocab - 1, vocab, vocab + 1, INT32_MAX, INT32_MIN, 256};
  if (!is_valid_utf8(tok.decode(odd))) broken_promise("decode of odd ids returned invalid UTF-8");
  for (int32_t id : odd) {
    (void)tok.token_to_piece(id);
    (void)tok.id_to_token(id);
    (void)tok.is_special(id);
  }
  for (std::string_view t : {"<s>", "</s>", "<unk>", "hello", "\xC4\xA0the", "", "\xE2\x96\x81"}) {
    check_id(tok.token_to_id(t), "token_to_id");
  }
  (void)tok.is_lossless();
  (void)tok.adds_bos();
  (void)tok.adds_eos();
}

}  // namespace mlxcel::fuzz
