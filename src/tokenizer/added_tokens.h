// Added tokens (special and not) are found in the text before the model sees it: leftmost-longest
// matching over a byte trie, with Hugging Face's lstrip/rstrip/single_word flags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mlxcel::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;       // the match takes the whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool single_word = false;  // only matches when not inside a word
  bool normalized = false;   // matched in normalized text (content normalized too)
};

class AddedTokenMatcher {
 public:
  // `text` is what is searched for (the content, normalized for normalized tokens).
  void add(const AddedToken& token, std::string text);
  bool empty() const { return entries_.empty(); }

  struct Segment {
    size_t begin, end;
    int32_t id;  // -1: plain text to tokenize
  };
  // Splits text into token matches and the text between them. With parse_special false, special
  // tokens are not matched (only non-special added tokens are).
  std::vector<Segment> split(std::string_view text, bool parse_special) const;

 private:
  struct Entry {
    AddedToken token;
    size_t length;
  };
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> next;
    int32_t entry = -1;
  };
  int32_t child(int32_t node, unsigned char c) const;
  std::vector<Entry> entries_;
  std::vector<Node> nodes_{Node{}};
};

}  // namespace mlxcel::tok
