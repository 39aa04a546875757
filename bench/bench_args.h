// Command-line parsing shared by the benches: `--flag value` pairs, numbers parsed strictly and
// comma lists split. A missing or malformed value prints the bench's usage line and exits 2, so a
// typo never ends in an uncaught exception.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace mlxcel::bench {

class ArgReader {
 public:
  ArgReader(int argc, char** argv, std::string usage) : argc_(argc), argv_(argv), usage_(std::move(usage)) {}

  // Moves to the next flag; false when none is left.
  bool next() {
    if (++i_ >= argc_) return false;
    flag_ = argv_[i_];
    return true;
  }
  const std::string& flag() const { return flag_; }

  // The current flag's value (the next argument).
  std::string value() {
    if (i_ + 1 >= argc_) fail("missing value for " + flag_);
    return argv_[++i_];
  }

  // A whole number in [min, max].
  uint64_t count(uint64_t min = 0, uint64_t max = UINT64_MAX) { return to_count(value(), min, max); }

  // A comma-separated list, each item non-empty.
  std::vector<std::string> list() {
    std::vector<std::string> out;
    std::stringstream ss(value());
    for (std::string item; std::getline(ss, item, ',');) {
      if (item.empty()) fail("empty item in the list of " + flag_);
      out.push_back(item);
    }
    if (out.empty()) fail("empty list for " + flag_);
    return out;
  }

  // A comma-separated list of whole numbers in [min, max].
  std::vector<uint64_t> counts(uint64_t min = 0, uint64_t max = UINT64_MAX) {
    std::vector<uint64_t> out;
    for (const std::string& item : list()) out.push_back(to_count(item, min, max));
    return out;
  }

  // Prints why and the usage line, exits 2 ("" prints the usage alone).
  [[noreturn]] void fail(const std::string& why = "") const {
    if (!why.empty()) std::fprintf(stderr, "%s\n", why.c_str());
    std::fprintf(stderr, "%s\n", usage_.c_str());
    std::exit(2);
  }

 private:
  uint64_t to_count(const std::string& v, uint64_t min, uint64_t max) const {
    uint64_t n = 0;
    const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || ptr != v.data() + v.size() || n < min || n > max) {
      fail(flag_ + " wants a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
           ", got '" + v + "'");
    }
    return n;
  }

  int argc_;
  char** argv_;
  std::string usage_;
  int i_ = 0;
  std::string flag_;
};

}  // namespace mlxcel::bench
