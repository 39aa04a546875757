// OpenAI tool calls for chat completions: which call syntax a model's chat template teaches
// (detected from the template text), the assistant-reply prefix that forces a call for
// tool_choice "required" / a named function, and a parser that turns the model's text into
// content and calls, incrementally, so that a streamed reply holds back only the text that may
// still become a call. Three syntaxes (docs/server.md "Tool calls"):
//   Hermes / Qwen: <tool_call>{"name": .., "arguments": {..}}</tool_call>, any number, text around;
//   Llama 3.x:     the whole reply is {"name": .., "parameters": {..}} (optionally after
//                  <|python_tag|>; several separated by ';');
//   Mistral:       [TOOL_CALLS][{"name": .., "arguments": {..}}, ...] after any text, or the
//                  newer [TOOL_CALLS]name[ARGS]{..} (repeated).
// A reply that looks like a call but is not valid JSON, or names a function the request did not
// offer, stays content: the parser never fails.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mlxcel::server {

enum class ToolFormat { None, Hermes, Llama3, Mistral, MistralArgs };

// The syntax the template's text teaches, or None (tools are then refused with a 400).
ToolFormat detect_tool_format(std::string_view template_source);
const char* tool_format_name(ToolFormat format);
// Special tokens of this syntax whose text the parser must see (engines keep their text).
std::vector<std::string> tool_marker_texts(ToolFormat format);

struct ToolCall {
  std::string id;         // "call_" + 24 alphanumerics; Mistral: 9 (its templates require 9)
  std::string name;
  std::string arguments;  // a JSON text (an object, as the model wrote it, compact)
};

std::string make_tool_call_id(ToolFormat format);

// The start of the assistant reply appended to the prompt so that the model continues a call:
// "required" opens a call, a named function also writes its name. Empty for "auto".
std::string tool_call_prefix(ToolFormat format, std::string_view forced_name, bool required);

struct ToolParseOptions {
  std::vector<std::string> names;  // functions the request offers; a call to another is content
  bool single = false;             // parallel_tool_calls false: only the first call counts
};

// Feed the reply's text as it arrives; each call returns what may leave now. Content before,
// between and after calls is released as soon as it cannot be part of a call; a call leaves once
// complete. Whitespace-only content next to calls is dropped.
class ToolCallParser {
 public:
  struct Output {
    std::string content;
    std::vector<ToolCall> calls;
    bool empty() const { return content.empty() && calls.empty(); }
  };

  ToolCallParser(ToolFormat format, ToolParseOptions options);
  Output push(std::string_view text);
  // The end of the reply: whatever is held leaves, as calls when it parses, else as content.
  Output finish();
  bool called() const { return calls_ > 0; }

 private:
  enum class State { Outside, InCall, Whole };
  void release_content(Output& out, std::string text);
  void emit_calls(Output& out, std::vector<ToolCall> calls);
  void step(Output& out, bool at_end);

  ToolFormat format_;
  ToolParseOptions options_;
  State state_ = State::Outside;
  bool decided_ = false;    // Llama 3: whether the reply is a call is known
  std::string buf_;         // text not yet released
  std::string ws_held_;     // whitespace-only content waiting for what follows
  uint64_t calls_ = 0;
};

// Parses a whole reply (what the non-streamed answer uses; the same parser as streaming).
ToolCallParser::Output parse_tool_calls(ToolFormat format, const ToolParseOptions& options,
                                        std::string_view text);

}  // namespace mlxcel::server
