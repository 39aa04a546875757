// Shared by the templates tests: render with the fixed clock the reference uses, and expect a
// limit to stop a render.
#pragma once

#include <ctime>
#include <initializer_list>
#include <string>

#include <gtest/gtest.h>

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

// test_options() with `change` applied to the limits, rendering with an empty context.
template <typename F>
std::string render_limited(const std::string& source, F&& change) {
  RenderOptions o = test_options();
  change(o.limits);
  return Template(source, o).render(json::object());
}

// Runs f, expects TemplateLimitExceeded for `limit` whose message has every fragment.
template <typename F>
void expect_limit(F&& f, const std::string& limit, std::initializer_list<const char*> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected TemplateLimitExceeded (" << limit << ")";
  } catch (const TemplateLimitExceeded& e) {
    EXPECT_EQ(e.limit(), limit);
    const std::string what = e.what();
    for (const char* frag : fragments) {
      EXPECT_NE(what.find(frag), std::string::npos) << "missing '" << frag << "' in: " << what;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected TemplateLimitExceeded (" << limit << "), got: " << e.what();
  }
}

}  // namespace mlxcel::templates::testing
