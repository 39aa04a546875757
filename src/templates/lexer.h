// Splits template source into text and tag tokens, applying Jinja's whitespace rules the way
// Hugging Face configures them: trim_blocks (drop the newline after a block or comment tag),
// lstrip_blocks (drop spaces before a block or comment tag that starts a line), `-` to strip all
// whitespace on that side, `+` to opt out, one trailing newline of the template dropped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mlxcel::templates {

struct SourcePos {
  uint32_t line = 1;
  uint32_t column = 1;
};

enum class TokenType { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, End };

struct Token {
  TokenType type;
  std::string text;  // text, name, operator, or the decoded string literal
  int64_t int_value = 0;
  double float_value = 0;
  size_t offset = 0;  // byte offset in the normalized source
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// The normalized source (all line endings turned into \n, trailing newline handled) and its
// tokens. Throws FormatError for unterminated tags, strings or comments.
struct LexedTemplate {
  std::string source;
  std::vector<Token> tokens;
  SourcePos position(size_t offset) const;
  // "line L, column C: <message>" followed by the source line and a caret.
  std::string describe(size_t offset, const std::string& message) const;
};

LexedTemplate lex(const std::string& source, const LexerOptions& options = {});

// Line terminators unified to \n, as Jinja does before lexing.
std::string normalize_newlines(const std::string& source);

}  // namespace mlxcel::templates
