// Damaged templates must fail with the documented errors, never crash: real templates are cut
// short, have bytes deleted or swapped, and are rendered (under ASan in the test build).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mlxcel/errors.h"
#include "render_helpers.h"

using namespace mlxcel::templates;
using namespace mlxcel::templates::testing;
namespace fs = std::filesystem;

TEST(Robustness, DamagedRealTemplatesOnlyThrowDocumentedErrors) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(MLXCEL_TESTDATA) / "chat-templates-llama.cpp")) {
    if (e.path().extension() == ".jinja") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  const json ctx = make_chat_context(json::parse(R"([
      {"role": "system", "content": "s"}, {"role": "user", "content": "u"},
      {"role": "assistant", "content": "a"}, {"role": "user", "content": "u2"}])"),
                                     true);
  uint64_t state = 0x9E3779B97F4A7C15ull;  // fixed seed: the same damage every run
  auto next = [&state](size_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>((state >> 33) % n);
  };
  const char* junk[] = {"{", "}", "%", "#", "-", "'", "\"", "(", "[", "|", " is ", "{%", "%}", "{{", "}}"};
  int rendered = 0, failed = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string src = ss.str();
    for (int k = 0; k < 8; ++k) {
      std::string bad = src;
      const size_t at = next(bad.size());
      switch (k % 4) {
        case 0: bad.resize(at); break;
        case 1: bad.erase(at, 1 + next(8)); break;
        case 2: bad.insert(at, junk[next(std::size(junk))]); break;
        case 3: std::swap(bad[at], bad[next(bad.size())]); break;
      }
      try {
        Template t(bad, test_options());
        t.render(ctx);
        ++rendered;
      } catch (const mlxcel::Error&) {
        ++failed;
      }
    }
  }
  // Both outcomes occur; what matters is that nothing else escaped or crashed.
  EXPECT_GT(rendered, 0);
  EXPECT_GT(failed, 0);
}
