// PCRE2 wrapper for pre-tokenizer patterns (UTF + UCP so \p{L}, \s and friends are Unicode-aware,
// JIT-compiled). Patterns are written for Oniguruma (Hugging Face tokenizers): ^ and $ are line
// anchors there, so they are compiled multi-line with LF newlines.
//
// Patterns come from tokenizer files, so a hostile one ("(a+)+b") may backtrack exponentially.
// find_all therefore has a work budget proportional to the subject (kRegexWorkPerByte PCRE2
// match-limit units per byte, shared by all its matches) and a fixed backtracking memory limit;
// past either it throws FormatError instead of hanging. Real patterns use about 1 unit per byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlxcel::tok {

inline constexpr uint64_t kRegexWorkPerByte = 64;
inline constexpr uint64_t kRegexHeapLimitBytes = 64ull << 20;  // interpreter frames; JIT stack alike

class Regex {
 public:
  // Throws FormatError naming `where` (file/field) and the compiler's message and offset.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends [start, end) byte ranges of successive non-overlapping matches in `subject` (valid
  // UTF-8). After an empty match the search resumes one character later, as Oniguruma's
  // find_iter does. Thread-safe. Throws FormatError when the work budget or memory limit is hit.
  void find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  std::string pattern_;
  std::string where_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxcel::tok
