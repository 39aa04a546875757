// The exception family. Library code throws these; only the CLI (exit codes) and the server
// (HTTP status) catch them. Messages are shaped "[component] what happened (file, field, value)".
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mlxcel {

class Error : public std::runtime_error {
 public:
  Error(std::string component, const std::string& message)
      : std::runtime_error("[" + component + "] " + message), component_(std::move(component)) {}
  const std::string& component() const noexcept { return component_; }

 private:
  std::string component_;
};

// Malformed file contents (safetensors, GGUF, JSON syntax, tokenizer files).
class FormatError : public Error {
 public:
  using Error::Error;
};

// A config.json (or GGUF metadata) that is readable but missing or contradicting a field.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A model family that the architecture registry does not know.
class UnsupportedArchitecture : public Error {
 public:
  using Error::Error;
};

// Files that cannot be found, opened or read.
class IoError : public Error {
 public:
  using Error::Error;
};

// Bad command-line usage or option values (exit code 2 like other bad input).
class UsageError : public Error {
 public:
  using Error::Error;
};

// An allocation that would take the accounted memory past the limit set with set_memory_limit.
class MemoryLimitExceeded : public Error {
 public:
  MemoryLimitExceeded(const std::string& message, uint64_t requested, uint64_t limit, uint64_t held)
      : Error("memory", message), requested_(requested), limit_(limit), held_(held) {}
  uint64_t requested() const noexcept { return requested_; }
  uint64_t limit() const noexcept { return limit_; }
  uint64_t held() const noexcept { return held_; }

 private:
  uint64_t requested_, limit_, held_;
};

// Exit codes shared by every subcommand.
enum class ExitCode : int { Ok = 0, RuntimeFailure = 1, BadInput = 2, RefusedByPreflight = 3 };

}  // namespace mlxcel
