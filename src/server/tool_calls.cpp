#include "server/tool_calls.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <random>

#include <nlohmann/json.hpp>

#include "core/json_input.h"

namespace mlxcel::server {

using ojson = nlohmann::ordered_json;

namespace {

constexpr std::string_view kHermesOpen = "<tool_call>";
constexpr std::string_view kHermesClose = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kMistralCalls = "[TOOL_CALLS]";
constexpr std::string_view kMistralArgs = "[ARGS]";
constexpr std::string_view kMistralCallId = "[CALL_ID]";

bool contains(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool all_space(std::string_view s) { return std::all_of(s.begin(), s.end(), is_space); }

// Length of the longest proper prefix of `tag` that `s` ends with: text that may still become
// the tag and must be held back.
size_t partial_suffix(std::string_view s, std::string_view tag) {
  for (size_t k = std::min(s.size(), tag.size() - 1); k > 0; --k) {
    if (s.substr(s.size() - k) == tag.substr(0, k)) return k;
  }
  return 0;
}

// Where the JSON object or array starting at s[start] ends (one past its closing bracket), by
// bracket depth outside strings; npos when it does not close. Validity is checked by parsing.
size_t json_value_end(std::string_view s, size_t start) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = start; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

std::optional<ojson> parse_json(std::string_view text) {
  std::string why;
  return try_parse_json<ojson>(text, &why);
}

std::string compact(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

// Arguments as the model wrote them: an object, or a string holding an object's JSON.
std::optional<std::string> arguments_text(const ojson* args) {
  if (args == nullptr || args->is_null()) return std::string("{}");
  if (args->is_object()) return compact(*args);
  if (args->is_string()) {
    auto inner = parse_json(args->get<std::string>());
    if (inner && inner->is_object()) return compact(*inner);
  }
  return std::nullopt;
}

const ojson* field(const ojson& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// {"name", "arguments" | "parameters"} -> a call, if the name is one the request offers.
std::optional<ToolCall> call_from(const ojson& obj, ToolFormat format,
                                  const ToolParseOptions& options) {
  if (!obj.is_object()) return std::nullopt;
  const ojson* name = field(obj, "name");
  if (name == nullptr || !name->is_string()) return std::nullopt;
  const ojson* args = field(obj, "arguments");
  if (args == nullptr) args = field(obj, "parameters");
  auto text = arguments_text(args);
  if (!text) return std::nullopt;
  ToolCall call{make_tool_call_id(format), name->get<std::string>(), std::move(*text)};
  if (!options.names.empty() &&
      std::find(options.names.begin(), options.names.end(), call.name) == options.names.end()) {
    return std::nullopt;
  }
  return call;
}

// An object or an array of objects, every one a call; otherwise nothing.
std::optional<std::vector<ToolCall>> calls_from(const ojson& j, ToolFormat format,
                                                const ToolParseOptions& options) {
  std::vector<ToolCall> out;
  if (j.is_array()) {
    if (j.empty()) return std::nullopt;
    for (const ojson& item : j) {
      auto c = call_from(item, format, options);
      if (!c) return std::nullopt;
      out.push_back(std::move(*c));
    }
    return out;
  }
  auto c = call_from(j, format, options);
  if (!c) return std::nullopt;
  out.push_back(std::move(*c));
  return out;
}

std::optional<std::vector<ToolCall>> parse_hermes_body(std::string_view body, ToolFormat format,
                                                       const ToolParseOptions& options) {
  auto j = parse_json(trim(body));
  if (!j) return std::nullopt;
  return calls_from(*j, format, options);
}

// Llama 3: [<|python_tag|>] {..} [; {..}]... and nothing else.
std::optional<std::vector<ToolCall>> parse_llama(std::string_view text,
                                                 const ToolParseOptions& options) {
  text = trim(text);
  if (text.substr(0, kPythonTag.size()) == kPythonTag) text = trim(text.substr(kPythonTag.size()));
  std::vector<ToolCall> out;
  while (!text.empty()) {
    if (text.front() != '{') return std::nullopt;
    const size_t end = json_value_end(text, 0);
    if (end == std::string_view::npos) return std::nullopt;
    auto j = parse_json(text.substr(0, end));
    if (!j) return std::nullopt;
    auto c = call_from(*j, ToolFormat::Llama3, options);
    if (!c) return std::nullopt;
    out.push_back(std::move(*c));
    text = trim(text.substr(end));
    if (!text.empty() && text.front() == ';') text = trim(text.substr(1));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// Mistral, after [TOOL_CALLS]: a JSON list (or object) of calls, or name[CALL_ID]id[ARGS]{..}
// segments, each further segment after another [TOOL_CALLS].
std::optional<std::vector<ToolCall>> parse_mistral(std::string_view text, ToolFormat format,
                                                   const ToolParseOptions& options) {
  const std::string_view t = trim(text);
  if (!t.empty() && (t.front() == '[' || t.front() == '{')) {
    auto j = parse_json(t);
    if (!j) return std::nullopt;
    return calls_from(*j, format, options);
  }
  std::vector<ToolCall> out;
  std::string_view rest = t;
  while (true) {
    const size_t next = rest.find(kMistralCalls);
    std::string_view seg = trim(rest.substr(0, next));
    const size_t args = seg.find(kMistralArgs);
    if (args == std::string_view::npos) return std::nullopt;
    std::string_view name = seg.substr(0, args);
    if (const size_t id = name.find(kMistralCallId); id != std::string_view::npos) {
      name = name.substr(0, id);
    }
    name = trim(name);
    if (name.empty()) return std::nullopt;
    auto j = parse_json(trim(seg.substr(args + kMistralArgs.size())));
    if (!j || !j->is_object()) return std::nullopt;
    auto c = call_from(ojson{{"name", std::string(name)}, {"arguments", *j}}, format, options);
    if (!c) return std::nullopt;
    out.push_back(std::move(*c));
    if (next == std::string_view::npos) break;
    rest = rest.substr(next + kMistralCalls.size());
  }
  return out;
}

}  // namespace

ToolFormat detect_tool_format(std::string_view src) {
  if (contains(src, kMistralCalls)) {
    return contains(src, kMistralArgs) ? ToolFormat::MistralArgs : ToolFormat::Mistral;
  }
  // <tool_call> also wraps other syntaxes (Qwen3-Coder's <function=..>, GLM's <arg_key>), which
  // this parser does not read.
  if (contains(src, kHermesOpen) && !contains(src, "<function=") && !contains(src, "<arg_key>")) {
    return ToolFormat::Hermes;
  }
  // Llama 3.1+: the header tokens and its JSON instruction ("parameters") for tools.
  if (contains(src, "<|start_header_id|>") && contains(src, "tools") &&
      contains(src, "\"parameters\"")) {
    return ToolFormat::Llama3;
  }
  return ToolFormat::None;
}

const char* tool_format_name(ToolFormat format) {
  switch (format) {
    case ToolFormat::Hermes: return "hermes";
    case ToolFormat::Llama3: return "llama3";
    case ToolFormat::Mistral: return "mistral";
    case ToolFormat::MistralArgs: return "mistral-args";
    case ToolFormat::None: break;
  }
  return "none";
}

std::vector<std::string> tool_marker_texts(ToolFormat format) {
  switch (format) {
    case ToolFormat::Hermes: return {std::string(kHermesOpen), std::string(kHermesClose)};
    case ToolFormat::Llama3: return {std::string(kPythonTag)};
    case ToolFormat::Mistral:
    case ToolFormat::MistralArgs:
      return {std::string(kMistralCalls), std::string(kMistralArgs), std::string(kMistralCallId)};
    case ToolFormat::None: break;
  }
  return {};
}

std::string make_tool_call_id(ToolFormat format) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlnum[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const bool mistral = format == ToolFormat::Mistral || format == ToolFormat::MistralArgs;
  std::string id = mistral ? "" : "call_";
  for (int i = 0; i < (mistral ? 9 : 24); ++i) id += kAlnum[rng() % 62];
  return id;
}

std::string tool_call_prefix(ToolFormat format, std::string_view name, bool required) {
  if (name.empty() && !required) return {};
  // The name is a validated function name ([A-Za-z0-9_-]), safe inside a JSON string.
  switch (format) {
    case ToolFormat::Hermes:
      return name.empty() ? "<tool_call>\n"
                          : fmt::format("<tool_call>\n{{\"name\": \"{}\", \"arguments\": ", name);
    case ToolFormat::Llama3:
      return name.empty() ? "{\"name\": \""
                          : fmt::format("{{\"name\": \"{}\", \"parameters\": ", name);
    case ToolFormat::Mistral:
      return name.empty() ? "[TOOL_CALLS]"
                          : fmt::format("[TOOL_CALLS][{{\"name\": \"{}\", \"arguments\": ", name);
    case ToolFormat::MistralArgs:
      return name.empty() ? "[TOOL_CALLS]" : fmt::format("[TOOL_CALLS]{}[ARGS]", name);
    case ToolFormat::None: break;
  }
  return {};
}

ToolCallParser::ToolCallParser(ToolFormat format, ToolParseOptions options)
    : format_(format), options_(std::move(options)) {}

void ToolCallParser::release_content(Output& out, std::string text) {
  if (text.empty()) return;
  ws_held_ += text;
  // Trailing whitespace may be the gap before a call (dropped then): it waits for what follows.
  size_t end = ws_held_.size();
  while (end > 0 && is_space(ws_held_[end - 1])) --end;
  if (end == 0) return;
  out.content.append(ws_held_, 0, end);
  ws_held_.erase(0, end);
}

void ToolCallParser::emit_calls(Output& out, std::vector<ToolCall> calls) {
  ws_held_.clear();
  for (auto& c : calls) {
    if (options_.single && calls_ > 0) break;
    out.calls.push_back(std::move(c));
    ++calls_;
  }
}

void ToolCallParser::step(Output& out, bool at_end) {
  const bool mistral = format_ == ToolFormat::Mistral || format_ == ToolFormat::MistralArgs;
  if (format_ == ToolFormat::Llama3) {
    if (!decided_) {
      const std::string_view t = trim(buf_);
      const bool maybe_tag = t.size() < kPythonTag.size() && kPythonTag.substr(0, t.size()) == t;
      if (!at_end && (t.empty() || maybe_tag)) return;  // not known yet
      decided_ = true;
      const bool call = !t.empty() && (t.front() == '{' || t.substr(0, kPythonTag.size()) == kPythonTag);
      state_ = call ? State::Whole : State::Outside;
    }
    if (state_ == State::Outside) {
      release_content(out, std::exchange(buf_, {}));
    } else if (at_end) {
      if (auto calls = parse_llama(buf_, options_)) emit_calls(out, std::move(*calls));
      else release_content(out, buf_);
      buf_.clear();
    }
    return;
  }
  const std::string_view open = mistral ? kMistralCalls : kHermesOpen;
  while (true) {
    if (state_ == State::Outside) {
      const size_t pos = buf_.find(open);
      if (pos != std::string::npos) {
        release_content(out, buf_.substr(0, pos));
        buf_.erase(0, pos + open.size());
        state_ = mistral ? State::Whole : State::InCall;
        continue;
      }
      const size_t keep = at_end ? 0 : partial_suffix(buf_, open);
      release_content(out, buf_.substr(0, buf_.size() - keep));
      buf_.erase(0, buf_.size() - keep);
      return;
    }
    if (state_ == State::Whole) {  // Mistral: the calls run to the end of the reply
      if (!at_end) return;
      if (auto calls = parse_mistral(buf_, format_, options_)) emit_calls(out, std::move(*calls));
      else release_content(out, std::string(open) + buf_);
      buf_.clear();
      state_ = State::Outside;
      return;
    }
    // Hermes, inside <tool_call>
    const size_t close = buf_.find(kHermesClose);
    if (close == std::string::npos && !at_end) return;
    const std::string body = buf_.substr(0, close);
    if (auto calls = parse_hermes_body(body, format_, options_)) {
      emit_calls(out, std::move(*calls));
    } else {
      release_content(out, std::string(open) + body +
                               (close == std::string::npos ? "" : std::string(kHermesClose)));
    }
    buf_.erase(0, close == std::string::npos ? buf_.size() : close + kHermesClose.size());
    state_ = State::Outside;
    if (at_end && buf_.empty()) return;
  }
}

ToolCallParser::Output ToolCallParser::push(std::string_view text) {
  Output out;
  buf_.append(text);
  step(out, false);
  return out;
}

ToolCallParser::Output ToolCallParser::finish() {
  Output out;
  step(out, true);
  // Trailing whitespace is content only in a reply without calls.
  if (!ws_held_.empty() && calls_ == 0) out.content += ws_held_;
  ws_held_.clear();
  return out;
}

ToolCallParser::Output parse_tool_calls(ToolFormat format, const ToolParseOptions& options,
                                        std::string_view text) {
  ToolCallParser p(format, options);
  ToolCallParser::Output out = p.push(text);
  ToolCallParser::Output rest = p.finish();
  out.content += rest.content;
  for (auto& c : rest.calls) out.calls.push_back(std::move(c));
  return out;
}

}  // namespace mlxcel::server
