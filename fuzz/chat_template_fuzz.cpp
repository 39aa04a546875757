// Fuzzes the Jinja chat-template engine: parse the template (first part of the input), then
// render it twice in the context make_chat_context builds (messages, tools, special tokens,
// enable_thinking): the server's kind of conversation (system / user / assistant, string
// contents) with add_generation_prompt, and one with a tool call, a tool result and reasoning
// without. An optional second part (after the line "--mlxcel-fuzz-part--")
// replaces the messages with its JSON (any JSON: the engine must cope with whatever the
// context holds). RenderLimits are the defaults (64 MiB output, 200 nested
// calls, 5,000,000 loop iterations, 2 MiB of stack), as in the server.
// Seeds: fuzz/corpus/chat_template_fuzz (small templates and regressions); scripts/fuzz.sh adds
// ../shared/testdata/chat-templates-* (.jinja files and tokenizer_config.json chat_template).
// -max_len 65536.
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "core/json_input.h"
#include "fuzz_util.h"
#include "mlxcel/errors.h"
#include "templates/chat_template.h"

namespace {

using ojson = nlohmann::ordered_json;

// What the server passes: string contents, roles system / user / assistant.
const ojson& chat_messages() {
  static const ojson m = ojson::parse(R"([
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"}
  ])");
  return m;
}

// What templates also handle: tool calls and results, reasoning. (Content parts: see the seed
// seed-custom-messages; most templates expect string contents.)
const ojson& tool_messages() {
  static const ojson m = ojson::parse(R"([
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "",
     "tool_calls": [{"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21}"},
    {"role": "assistant", "content": "It is 21 degrees.", "reasoning_content": "The tool said 21."},
    {"role": "user", "content": "Thanks!"}
  ])");
  return m;
}

const ojson& tools() {
  static const ojson t = ojson::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"]}}}
  ])");
  return t;
}

const ojson& special_tokens() {
  static const ojson s = ojson::parse(
      R"({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": null})");
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts =
      mlxcel::fuzz::split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 2);
  // Conversations to render: the server's shape with a generation prompt, then one with tools
  // without; or the input's own JSON (second part), both ways.
  std::vector<std::pair<ojson, bool>> renders = {{chat_messages(), true}, {tool_messages(), false}};
  if (parts.size() > 1) {
    std::string why;
    if (auto j = mlxcel::try_parse_json<ojson>(parts[1], &why)) renders = {{*j, true}, {*j, false}};
  }
  mlxcel::templates::RenderOptions options;  // default RenderLimits
  options.now = [] {
    std::tm t{};
    t.tm_year = 124, t.tm_mon = 6, t.tm_mday = 26, t.tm_hour = 12;
    return t;
  };
  try {
    const mlxcel::templates::Template tmpl{std::string(parts[0]), options};
    for (const auto& [messages, add_generation_prompt] : renders) {
      const ojson context = mlxcel::templates::make_chat_context(
          messages, add_generation_prompt, tools(), special_tokens(), ojson{{"enable_thinking", true}});
      (void)tmpl.render(context);
    }
  } catch (const mlxcel::Error& e) {
    mlxcel::fuzz::refused(e);
    // FormatError (syntax), TemplateRaised, TemplateRenderError (incl. a limit reached).
  }
  return 0;
}
