// PCRE2 wrapper for pre-tokenizer patterns (UTF + UCP so \p{L}, \s and friends are Unicode-aware,
// JIT-compiled). Patterns are written for Oniguruma (Hugging Face tokenizers): ^ and $ are line
// anchors there, so they are compiled multi-line with LF newlines.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlxcel::tok {

class Regex {
 public:
  // Throws FormatError naming `where` (file/field) and the compiler's message and offset.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends [start, end) byte ranges of successive non-overlapping matches in `subject` (valid
  // UTF-8). After an empty match the search resumes one character later, as Oniguruma's
  // find_iter does. Thread-safe.
  void find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxcel::tok
