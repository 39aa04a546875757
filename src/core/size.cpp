#include "mlxcel/size.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

uint64_t parse_size(std::string_view text, std::string_view what) {
  auto fail = [&](const char* why) -> uint64_t {
    throw UsageError("size", fmt::format("cannot parse {} value '{}': {} (examples: 16GiB, 16G, "
                                         "16GB, 512MiB, 1048576)",
                                         what, text, why));
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return fail("expected a number");
  std::string number(text.substr(0, i));
  if (std::count(number.begin(), number.end(), '.') > 1) return fail("malformed number");
  std::string unit = lower(text.substr(i));
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());

  long double mult;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kib") mult = 1024.0L;
  else if (unit == "m" || unit == "mib") mult = 1024.0L * 1024;
  else if (unit == "g" || unit == "gib") mult = 1024.0L * 1024 * 1024;
  else if (unit == "t" || unit == "tib") mult = 1024.0L * 1024 * 1024 * 1024;
  else if (unit == "kb") mult = 1e3L;
  else if (unit == "mb") mult = 1e6L;
  else if (unit == "gb") mult = 1e9L;
  else if (unit == "tb") mult = 1e12L;
  else return fail("unknown unit");

  long double value = std::strtold(number.c_str(), nullptr) * mult;
  if (!std::isfinite(value) || value >= 18446744073709551615.0L) return fail("too large");
  if (unit.empty() && number.find('.') != std::string::npos) return fail("a byte count must be whole");
  return static_cast<uint64_t>(std::llround(value));
}

std::string format_bytes(uint64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  long double v = static_cast<long double>(bytes);
  int u = -1;
  while (v >= 1024.0L && u < 5) {
    v /= 1024.0L;
    ++u;
  }
  return fmt::format("{:.2f} {}", static_cast<double>(v), kUnits[u]);
}

}  // namespace mlxcel
