// Turns the bytes of generated tokens into text that is safe to send as it arrives: only whole
// UTF-8 characters leave (invalid bytes become U+FFFD), and text that may be the start of a stop
// string is held back until it is known not to be one, so a stop string is never emitted, even
// when it is split across tokens.
#pragma once

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

 private:
  std::vector<std::string> stops_;
  std::string raw_;   // bytes of an incomplete trailing character
  std::string held_;  // valid text that may be the beginning of a stop string
  bool stopped_ = false;
};

}  // namespace mlxcel::server
