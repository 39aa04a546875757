// Acceptance: every real chat template in the shared test data, rendered for a set of
// conversations, must come out byte-identical to Hugging Face's renderer (python3-jinja2 in the
// environment transformers builds, tests/reference/render_template.py). Cases the reference
// itself rejects are skipped and counted. The reference runs once, over all cases, in one process.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "support/test_paths.h"
#include "templates/chat_template.h"

using namespace mlxcel::templates;
using nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

struct TemplateUnderTest {
  std::string group;  // which shared folder it came from
  std::string name;
  std::string source;
  ordered_json special_tokens;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

ordered_json generic_tokens() { return ordered_json{{"bos_token", "<s>"}, {"eos_token", "</s>"}}; }

std::vector<TemplateUnderTest> collect_templates() {
  const fs::path data = MLXCEL_TESTDATA;
  std::vector<TemplateUnderTest> out;
  for (const auto& p : sorted_entries(data / "chat-templates-llama.cpp")) {
    if (p.extension() == ".jinja") {
      out.push_back({"chat-templates-llama.cpp", p.filename().string(), slurp(p), generic_tokens()});
    }
  }
  for (const auto& dir : sorted_entries(data / "chat-templates-onnxruntime-extensions")) {
    if (!fs::is_directory(dir)) continue;
    auto t = find_chat_template(dir);
    if (!t) continue;
    out.push_back({"chat-templates-onnxruntime-extensions", dir.filename().string(), t->source,
                   load_special_tokens(dir)});
  }
  // Further real templates in the shared data (tokenizer folders and Mistral's own templates).
  for (const char* dir : {"phi-3-mini-tokenizer", "granite-3.1-1b-a400m-instruct-tokenizer",
                          "llama-3-8b-instruct-tokenizer"}) {
    if (auto t = find_chat_template(data / dir)) {
      out.push_back({"tokenizer folders", dir, t->source, load_special_tokens(data / dir)});
    }
  }
  for (const auto& p : sorted_entries(data / "mistral-common" / "chat_templates")) {
    if (p.extension() == ".jinja") {
      out.push_back({"mistral-common", p.filename().string(), slurp(p), generic_tokens()});
    }
  }
  out.push_back({"builtin", "fallback", kFallbackChatTemplate, generic_tokens()});
  return out;
}

std::tm fixed_now() {
  // 2025-03-14T09:26:53, the time given to the reference as "now".
  std::tm tm{};
  tm.tm_year = 2025 - 1900;
  tm.tm_mon = 2;
  tm.tm_mday = 14;
  tm.tm_hour = 9;
  tm.tm_min = 26;
  tm.tm_sec = 53;
  timegm(&tm);  // fills in weekday and day of year
  return tm;
}

// Where two outputs first differ, with a little context, for the failure message.
std::string first_difference(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  const size_t from = i > 60 ? i - 60 : 0;
  return "first difference at byte " + std::to_string(i) + "\n  reference: " +
         ordered_json(want.substr(from, 160)).dump() + "\n  mlxcel:    " +
         ordered_json(got.substr(from, 160)).dump();
}

}  // namespace

TEST(ReferenceMatch, RealTemplatesRenderByteIdenticalToJinja2) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 (with python3-jinja2) not installed";
  const std::string source_dir = MLXCEL_SOURCE_DIR;
  const ordered_json spec = ordered_json::parse(slurp(source_dir + "/tests/templates/data/conversations.json"));
  const auto templates = collect_templates();
  ASSERT_GT(templates.size(), 60u);

  struct Case {
    size_t tmpl;
    std::string conversation;
    ordered_json context;
  };
  std::vector<Case> cases;
  ordered_json request;
  request["now"] = "2025-03-14T09:26:53";
  request["templates"] = ordered_json::array();
  for (const auto& t : templates) request["templates"].push_back(t.source);
  request["cases"] = ordered_json::array();
  for (size_t ti = 0; ti < templates.size(); ++ti) {
    for (const auto& conv : spec["conversations"]) {
      const ordered_json tools = conv.value("with_tools", false) ? spec["tools"] : ordered_json(nullptr);
      ordered_json ctx = make_chat_context(conv["messages"], conv["add_generation_prompt"].get<bool>(),
                                           tools, templates[ti].special_tokens,
                                           conv.value("extra", ordered_json::object()));
      request["cases"].push_back({{"template", ti}, {"context", ctx}});
      cases.push_back({ti, conv["name"].get<std::string>(), std::move(ctx)});
    }
  }

  mlxcel::test::TempDir tmp;
  const std::string in_path = tmp.file("request.json");
  const std::string out_path = tmp.file("results.json");
  std::ofstream(in_path) << request.dump();
  const std::string cmd = "/usr/bin/python3 '" + source_dir + "/tests/reference/render_template.py' < '" +
                          in_path + "' > '" + out_path + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "reference renderer failed: " << cmd;
  const ordered_json results = ordered_json::parse(slurp(out_path))["results"];
  ASSERT_EQ(results.size(), cases.size());

  RenderOptions options;
  options.now = fixed_now;
  std::map<size_t, Template> compiled;
  std::map<std::string, std::pair<int, int>> per_group;  // matched, skipped
  int matched = 0, skipped = 0, both_raised = 0, both_failed = 0;
  std::map<std::string, int> reference_errors;  // error type -> count
  std::vector<std::string> mismatches;
  std::vector<std::string> lenient;  // rejected by the reference, rendered here
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const auto& t = templates[c.tmpl];
    const std::string label = t.group + "/" + t.name + " × " + c.conversation;
    const ordered_json& ref = results[i];
    if (!ref["ok"].get<bool>()) {
      ++skipped;
      ++per_group[t.group].second;
      const std::string err = ref["error"].get<std::string>();
      ++reference_errors[ref["kind"] == "raised" ? "raise_exception" : err.substr(0, err.find(':'))];
      // Informational: does mlxcel refuse it too (and with the template's own message)?
      try {
        if (!compiled.count(c.tmpl)) compiled.emplace(c.tmpl, Template(t.source, options));
        compiled.at(c.tmpl).render(c.context);
        lenient.push_back(label + " (reference: " + err.substr(0, 120) + ")");
      } catch (const TemplateRaised& e) {
        ++both_failed;
        if (ref["kind"] == "raised" && e.template_message() == err) ++both_raised;
      } catch (const std::exception&) {
        ++both_failed;
      }
      continue;
    }
    const std::string want = ref["output"].get<std::string>();
    std::string got;
    try {
      if (!compiled.count(c.tmpl)) compiled.emplace(c.tmpl, Template(t.source, options));
      got = compiled.at(c.tmpl).render(c.context);
    } catch (const std::exception& e) {
      mismatches.push_back(label + ": mlxcel failed: " + e.what());
      continue;
    }
    if (got == want) {
      ++matched;
      ++per_group[t.group].first;
    } else {
      mismatches.push_back(label + ": " + first_difference(want, got));
    }
  }

  std::cout << "chat templates: " << templates.size() << " templates x "
            << spec["conversations"].size() << " conversations = " << cases.size() << " cases\n";
  for (const auto& [group, counts] : per_group) {
    std::cout << "  " << group << ": " << counts.first << " matched, " << counts.second
              << " rejected by the reference\n";
  }
  std::cout << "  matched byte-identically: " << matched << ", rejected by the reference (skipped): "
            << skipped << ", differing: " << mismatches.size() << "\n";
  std::cout << "  reference rejections by kind:";
  for (const auto& [kind, n] : reference_errors) std::cout << " " << kind << "=" << n;
  std::cout << "\n  of those, mlxcel fails too: " << both_failed
            << " (raise_exception with the identical message: " << both_raised << ")\n";
  for (const auto& l : lenient) std::cout << "  rendered here, rejected by the reference: " << l << "\n";
  for (const auto& m : mismatches) ADD_FAILURE() << m;
  EXPECT_GT(matched, 400);
}
