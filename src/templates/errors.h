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
// limit was reached (then it is the subclass TemplateLimitExceeded). The message names the line.
class TemplateRenderError : public Error {
 public:
  TemplateRenderError(const std::string& message, bool undefined)
      : Error("templates", message), undefined_(undefined) {}
  // True for Jinja's UndefinedError (a missing variable or attribute was used).
  bool undefined() const noexcept { return undefined_; }

 private:
  bool undefined_;
};

// Rendering stopped at one of the RenderLimits (memory, output size, nesting, call depth, loop
// iterations, time, stack). The message names the line and the limit; limit() is the
// RenderLimits field, e.g. "max_memory_bytes". Usually the input was too big for the template
// (a 400 for the server), or the template is hostile.
class TemplateLimitExceeded : public TemplateRenderError {
 public:
  TemplateLimitExceeded(const std::string& message, std::string limit)
      : TemplateRenderError(message, false), limit_(std::move(limit)) {}
  const std::string& limit() const noexcept { return limit_; }

 private:
  std::string limit_;
};

}  // namespace mlxcel::templates
