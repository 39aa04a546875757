// Shared by the templates tests: render with the fixed clock the reference uses.
#pragma once

#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

#include "templates/chat_template.h"

namespace mlxcel::templates::testing {

using json = nlohmann::ordered_json;

// 2025-03-14 09:26:53 (a Friday, day 73 of the year), what strftime_now sees in tests.
inline std::tm fixed_time() {
  std::tm tm{};
  tm.tm_year = 2025 - 1900;
  tm.tm_mon = 2;
  tm.tm_mday = 14;
  tm.tm_hour = 9;
  tm.tm_min = 26;
  tm.tm_sec = 53;
  timegm(&tm);
  return tm;
}

inline RenderOptions test_options() {
  RenderOptions o;
  o.now = fixed_time;
  return o;
}

inline std::string render(const std::string& source, const json& context = json::object()) {
  return Template(source, test_options()).render(context);
}

}  // namespace mlxcel::templates::testing
