// Turns the bytes of generated tokens into text that is safe to send as it arrives: only whole
// UTF-8 characters leave (invalid bytes become U+FFFD), and text that may be the start of a stop
// string is held back until it is known not to be one, so a stop string is never emitted, even
// when it is split across tokens.
//
// TokenStream adds tokens on top: each piece of text leaves with the log-probabilities of the
// tokens whose text it completes, so a streamed chunk carries one token, or the few tokens of a
// character split across them (or of text held back as a possible stop string).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlxcel::server {

class TextStream {
 public:
  TextStream() = default;
  explicit TextStream(std::vector<std::string> stops);

  // Appends one token's bytes and returns the text that can be sent now. When a stop string
  // completes, returns the text before it and stopped() becomes true; later pushes return "".
  std::string push(std::string_view bytes);
  // End of generation without a stop string: returns everything held (a truncated character
  // becomes U+FFFD).
  std::string finish();
  bool stopped() const { return stopped_; }
  // Positions in the output text, in bytes: returned so far, and converted (returned + held).
  uint64_t sent() const { return sent_; }
  uint64_t converted() const { return sent_ + held_.size(); }
  // The last bytes pushed end inside a character.
  bool mid_character() const { return !raw_.empty(); }

 private:
  std::vector<std::string> stops_;
  std::string raw_;   // bytes of an incomplete trailing character
  std::string held_;  // valid text that may be the beginning of a stop string
  bool stopped_ = false;
  uint64_t sent_ = 0;
};

// A token's bytes (possibly part of a character) and log-probability.
struct TokenText {
  std::string bytes;
  float logprob = 0.0f;
};

struct TokenLogprobs {
  TokenText chosen;
  std::vector<TokenText> top;  // most likely first
  uint64_t text_offset = 0;    // code points of the output text before this token
};

struct Piece {
  std::string text;
  std::vector<TokenLogprobs> logprobs;  // tokens released with this text (logprobs requested)
  bool empty() const { return text.empty() && logprobs.empty(); }
};

class TokenStream {
 public:
  TokenStream() = default;
  TokenStream(std::vector<std::string> stops, bool logprobs);

  // One generated token (never the end-of-sequence token); `entry` only when logprobs are kept.
  // A token leaves with the first piece whose text reaches its end; once a stop string is
  // found, tokens that start inside it are dropped (their text is not in the output).
  Piece push(std::string_view bytes, std::optional<TokenLogprobs> entry = std::nullopt);
  // The end without a stop string: the held text and every token still waiting.
  Piece finish();
  bool stopped() const { return text_.stopped(); }

 private:
  struct Waiting {
    TokenLogprobs entry;
    std::optional<uint64_t> end;  // unknown while the token's last character is incomplete
  };
  void release(Piece& piece, bool all, std::optional<uint64_t> before = std::nullopt);
  uint64_t chars_before(uint64_t byte);

  TextStream text_;
  bool logprobs_ = false;
  std::deque<Waiting> waiting_;
  uint64_t released_end_ = 0;  // where the next released token starts (output bytes)
  std::string tail_;           // output text from cursor_byte_ on, for code point offsets
  uint64_t cursor_byte_ = 0;
  uint64_t cursor_chars_ = 0;
};

}  // namespace mlxcel::server
