// Errors a template raises while rendering. Syntax errors are mlxcel::FormatError (with line,
// column and the offending line); these two cover what happens after parsing.
#pragma once

#include <string>

#include "mlxcel/errors.h"

namespace mlxcel::templates {

// The template itself refused the input: it called raise_exception(message). The server turns
// this into a 400 with the template's own message.
class TemplateRaised : public Error {
 public:
  explicit TemplateRaised(std::string message)
      : Error("templates", "template raised: " + message), message_(std::move(message)) {}
  // Exactly what the template passed to raise_exception.
  const std::string& template_message() const noexcept { return message_; }

 private:
  std::string message_;
};

// Rendering failed: an undefined value was looked into, an operation had the wrong types, or a
// limit (output size, call depth, loop iterations) was reached. The message names the line.
class TemplateRenderError : public Error {
 public:
  TemplateRenderError(const std::string& message, bool undefined)
      : Error("templates", message), undefined_(undefined) {}
  // True for Jinja's UndefinedError (a missing variable or attribute was used).
  bool undefined() const noexcept { return undefined_; }

 private:
  bool undefined_;
};

}  // namespace mlxcel::templates
