#include "server/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>

#include "core/json_input.h"

namespace mlxcel::server {

using nlohmann::json;

ApiError::ApiError(int status, std::string message, std::string code, std::string param)
    : std::runtime_error(std::move(message)),
      status_(status),
      code_(std::move(code)),
      param_(std::move(param)) {}

std::string ApiError::type() const {
  if (status_ == 401) return "authentication_error";
  if (status_ >= 500) return "server_error";
  return "invalid_request_error";
}

json ApiError::to_json() const {
  json e = json::object();
  e["message"] = what();
  e["type"] = type();
  e["param"] = param_.empty() ? json(nullptr) : json(param_);
  e["code"] = code_.empty() ? json(nullptr) : json(code_);
  return json{{"error", e}};
}

namespace {

constexpr size_t kMaxStops = 4;  // as OpenAI
constexpr int64_t kMaxChatTopLogprobs = 20;    // as OpenAI
constexpr int64_t kMaxCompletionLogprobs = 5;  // as OpenAI's legacy completions

// A short rendering of an offending value for messages: its JSON type and, for scalars, the
// value. Containers are never dumped: nesting is unbounded and dumping recurses.
std::string describe(const json& v) {
  if (v.is_array()) return fmt::format("array of {} element(s)", v.size());
  if (v.is_object()) return fmt::format("object with {} field(s)", v.size());
  std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return fmt::format("{} {}", v.type_name(), text);
}

[[noreturn]] void invalid(const std::string& param, const std::string& message,
                          const std::string& code = "invalid_value") {
  throw ApiError(400, message, code, param);
}

[[noreturn]] void wrong_type(const std::string& param, const std::string& expected,
                             const json& got) {
  invalid(param, fmt::format("'{}' must be {} (got {})", param, expected, describe(got)),
          "invalid_type");
}

bool get_bool(const json& v, const std::string& name) {
  if (!v.is_boolean()) wrong_type(name, "a boolean", v);
  return v.get<bool>();
}

double get_number(const json& v, const std::string& name, double lo, double hi) {
  if (!v.is_number()) wrong_type(name, "a number", v);
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi)) {
    invalid(name, fmt::format("'{}' must be between {} and {} (got {})", name, lo, hi, v.dump()));
  }
  return x;
}

uint64_t get_positive_int(const json& v, const std::string& name) {
  if (!v.is_number_integer()) wrong_type(name, "an integer", v);
  if (v.is_number_unsigned()) {
    const uint64_t x = v.get<uint64_t>();
    if (x >= 1) return x;
  }
  invalid(name, fmt::format("'{}' must be at least 1 (got {})", name, v.dump()));
}

std::string get_string(const json& v, const std::string& name) {
  if (!v.is_string()) wrong_type(name, "a string", v);
  return v.get<std::string>();
}

std::vector<std::string> get_stop(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.size() > kMaxStops) {
      invalid("stop", fmt::format("'stop' may list at most {} strings (got {})", kMaxStops,
                                  v.size()));
    }
    for (size_t i = 0; i < v.size(); ++i) {
      out.push_back(get_string(v[i], fmt::format("stop[{}]", i)));
    }
  } else {
    wrong_type("stop", "a string or an array of strings", v);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].empty()) invalid("stop", "'stop' strings must not be empty");
  }
  return out;
}

// Fields accepted only with the value that changes nothing, because common clients send them.
struct NeutralField {
  const char* name;
  const char* neutral;  // for the message
  std::function<bool(const json&)> is_neutral;
};

bool is_one(const json& v) { return v.is_number_integer() && v.get<int64_t>() == 1; }
bool is_false(const json& v) { return v.is_boolean() && !v.get<bool>(); }

const std::vector<NeutralField>& neutral_fields(Endpoint endpoint) {
  static const std::vector<NeutralField> common = {
      {"n", "1", is_one},
  };
  static const std::vector<NeutralField> chat = [] {
    auto v = common;
    v.push_back({"response_format", "{\"type\": \"text\"}", [](const json& f) {
                   return f.is_object() && f.size() == 1 && f.contains("type") &&
                          f["type"] == "text";
                 }});
    return v;
  }();
  static const std::vector<NeutralField> completions = [] {
    auto v = common;
    v.push_back({"echo", "false", is_false});
    v.push_back({"best_of", "1", is_one});
    v.push_back({"suffix", "\"\"", [](const json& f) { return f.is_string() && f.empty(); }});
    return v;
  }();
  return endpoint == Endpoint::ChatCompletions ? chat : completions;
}

// An integer in [lo, hi].
int64_t get_int(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) wrong_type(name, "an integer", v);
  const bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(hi)
                                           : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  if (!fits) {
    invalid(name, fmt::format("'{}' must be between {} and {} (got {})", name, lo, hi, v.dump()));
  }
  return v.get<int64_t>();
}

// vLLM's top_k: -1 or 0 turn it off.
uint32_t get_top_k(const json& v) {
  const int64_t k = get_int(v, "top_k", -1, std::numeric_limits<uint32_t>::max());
  return k <= 0 ? 0 : static_cast<uint32_t>(k);
}

float get_repetition_penalty(const json& v) {
  if (!v.is_number()) wrong_type("repetition_penalty", "a number", v);
  const double x = v.get<double>();
  if (!(x > 0.0 && x <= std::numeric_limits<float>::max())) {
    invalid("repetition_penalty",
            fmt::format("'repetition_penalty' must be greater than 0 (1 turns it off; got {})",
                        v.dump()));
  }
  return static_cast<float>(x);
}

// {"token id": bias}: ids as decimal strings (checked against the vocabulary by the server),
// biases in [-100, 100] as OpenAI allows. "7" and "007" are one token: the last one counts.
std::vector<std::pair<int32_t, float>> get_logit_bias(const json& v) {
  if (!v.is_object()) wrong_type("logit_bias", "an object mapping token ids to biases", v);
  std::map<int32_t, float> by_id;
  for (const auto& [key, bias] : v.items()) {
    const bool digits = !key.empty() && key.size() <= 10 &&
                        key.find_first_not_of("0123456789") == std::string::npos;
    const int64_t id = digits ? std::stoll(key) : -1;
    if (!digits || id > std::numeric_limits<int32_t>::max()) {
      std::string shown = key.size() > 40 ? key.substr(0, 37) + "..." : key;
      invalid("logit_bias",
              fmt::format("'logit_bias' keys must be token ids (non-negative integers as "
                          "strings; got \"{}\")",
                          shown));
    }
    const std::string at = fmt::format("logit_bias[\"{}\"]", key);
    if (!bias.is_number()) {
      invalid("logit_bias", fmt::format("'{}' must be a number (got {})", at, describe(bias)),
              "invalid_type");
    }
    const double b = bias.get<double>();
    if (!(b >= -100.0 && b <= 100.0)) {
      invalid("logit_bias",
              fmt::format("'{}' must be between -100 and 100 (got {})", at, bias.dump()));
    }
    by_id[static_cast<int32_t>(id)] = static_cast<float>(b);
  }
  return {by_id.begin(), by_id.end()};
}

// OpenAI's metadata: at most 16 string values (accepted and ignored).
void check_metadata(const json& v) {
  if (!v.is_object()) wrong_type("metadata", "an object of strings", v);
  if (v.size() > 16) {
    invalid("metadata", fmt::format("'metadata' may hold at most 16 pairs (got {})", v.size()));
  }
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) wrong_type("metadata", "an object of strings", value);
  }
}

std::string message_content(const json& content, const std::string& where, bool may_be_null) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null() && may_be_null) return {};
  if (!content.is_array()) {
    wrong_type(where, may_be_null ? "a string, an array of text parts or null"
                                  : "a string or an array of text parts",
               content);
  }
  // Text parts are joined with newlines (as vLLM does); other part types are not supported.
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string at = fmt::format("{}[{}]", where, i);
    if (!part.is_object()) wrong_type(at, "an object", part);
    if (!part.contains("type")) {
      invalid(at + ".type", fmt::format("'{}.type' is required", at), "missing_field");
    }
    const std::string type = get_string(part["type"], at + ".type");
    if (type != "text") {
      invalid(at + ".type",
              fmt::format("content part type '{}' is not supported (text only)", type),
              "unsupported_value");
    }
    for (const auto& [key, value] : part.items()) {
      if (key != "type" && key != "text") {
        invalid(at + "." + key, fmt::format("unknown field '{}.{}'", at, key), "unknown_field");
      }
    }
    if (!part.contains("text")) {
      invalid(at + ".text", fmt::format("'{}.text' is required", at), "missing_field");
    }
    if (i > 0) text += '\n';
    text += get_string(part["text"], at + ".text");
  }
  return text;
}

void check_known_fields(const json& obj, const std::string& at,
                        std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      invalid(at + "." + key, fmt::format("unknown field '{}.{}'", at, key), "unknown_field");
    }
  }
}

const json& required_field(const json& obj, const std::string& at, const char* key) {
  if (!obj.contains(key)) {
    invalid(at + "." + key, fmt::format("'{}.{}' is required", at, key), "missing_field");
  }
  return obj[key];
}

// OpenAI's rule for function names.
void check_function_name(const std::string& name, const std::string& at) {
  const bool ok = !name.empty() && name.size() <= 64 &&
                  name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_-") == std::string::npos;
  if (!ok) {
    std::string shown = name.size() > 40 ? name.substr(0, 37) + "..." : name;
    invalid(at, fmt::format("'{}' must be 1 to 64 letters, digits, '_' or '-' (got \"{}\")", at,
                            shown));
  }
}

// An assistant message's tool_calls: [{"id", "type": "function", "function": {"name",
// "arguments": JSON text}}]. Kept as given; the engine hands the arguments to the template as an
// object when they parse as one (templates expect a mapping, as vLLM passes them).
json parse_message_tool_calls(const json& v, const std::string& where) {
  if (!v.is_array()) wrong_type(where, "an array", v);
  json out = json::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const json& c = v[i];
    const std::string at = fmt::format("{}[{}]", where, i);
    if (!c.is_object()) wrong_type(at, "an object", c);
    check_known_fields(c, at, {"id", "type", "function"});
    const std::string id = get_string(required_field(c, at, "id"), at + ".id");
    const std::string type = get_string(required_field(c, at, "type"), at + ".type");
    if (type != "function") {
      invalid(at + ".type", fmt::format("'{}.type' must be \"function\" (got \"{}\")", at, type),
              "unsupported_value");
    }
    const json& f = required_field(c, at, "function");
    const std::string fat = at + ".function";
    if (!f.is_object()) wrong_type(fat, "an object", f);
    check_known_fields(f, fat, {"name", "arguments"});
    const std::string name = get_string(required_field(f, fat, "name"), fat + ".name");
    const std::string args = get_string(required_field(f, fat, "arguments"), fat + ".arguments");
    out.push_back({{"id", id},
                   {"type", "function"},
                   {"function", {{"name", name}, {"arguments", args}}}});
  }
  return out;
}

json parse_messages(const json& v) {
  if (!v.is_array()) wrong_type("messages", "an array", v);
  if (v.empty()) invalid("messages", "'messages' must contain at least one message");
  json out = json::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const json& m = v[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) wrong_type(at, "an object", m);
    if (!m.contains("role")) {
      invalid(at + ".role", fmt::format("'{}.role' is required", at), "missing_field");
    }
    std::string role = get_string(m["role"], at + ".role");
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
      invalid(at + ".role",
              fmt::format("'{}.role' must be one of system, developer, user, assistant, tool (got "
                          "'{}'; function messages are not supported)",
                          at, role),
              "unsupported_value");
    }
    if (role == "assistant") {
      check_known_fields(m, at, {"role", "content", "name", "tool_calls"});
    } else if (role == "tool") {
      check_known_fields(m, at, {"role", "content", "name", "tool_call_id"});
    } else {
      check_known_fields(m, at, {"role", "content", "name"});
    }
    const bool calls = role == "assistant" && m.contains("tool_calls") && !m["tool_calls"].is_null();
    json msg = {{"role", role}};
    if (calls && (!m.contains("content") || m["content"].is_null())) {
      msg["content"] = nullptr;  // a reply that is only calls, as the client sent it
    } else {
      if (!m.contains("content")) {
        invalid(at + ".content", fmt::format("'{}.content' is required", at), "missing_field");
      }
      msg["content"] = message_content(m["content"], at + ".content", role == "assistant");
    }
    if (m.contains("name")) msg["name"] = get_string(m["name"], at + ".name");
    if (calls) msg["tool_calls"] = parse_message_tool_calls(m["tool_calls"], at + ".tool_calls");
    if (role == "tool") {
      msg["tool_call_id"] =
          get_string(required_field(m, at, "tool_call_id"), at + ".tool_call_id");
    }
    out.push_back(std::move(msg));
  }
  return out;
}

constexpr size_t kMaxTools = 128;  // as OpenAI

// tools: [{"type": "function", "function": {"name", "description"?, "parameters"?, "strict"?}}]
std::vector<std::string> check_tools(const json& v) {
  if (!v.is_array()) wrong_type("tools", "an array of function tools", v);
  if (v.size() > kMaxTools) {
    invalid("tools", fmt::format("'tools' may list at most {} tools (got {})", kMaxTools, v.size()));
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < v.size(); ++i) {
    const json& t = v[i];
    const std::string at = fmt::format("tools[{}]", i);
    if (!t.is_object()) wrong_type(at, "an object", t);
    check_known_fields(t, at, {"type", "function"});
    const std::string type = get_string(required_field(t, at, "type"), at + ".type");
    if (type != "function") {
      invalid(at + ".type",
              fmt::format("'{}.type' must be \"function\" (got \"{}\"; only function tools are "
                          "supported)",
                          at, type),
              "unsupported_value");
    }
    const json& f = required_field(t, at, "function");
    const std::string fat = at + ".function";
    if (!f.is_object()) wrong_type(fat, "an object", f);
    check_known_fields(f, fat, {"name", "description", "parameters", "strict"});
    std::string name = get_string(required_field(f, fat, "name"), fat + ".name");
    check_function_name(name, fat + ".name");
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      invalid(fat + ".name", fmt::format("'{}.name': the function '{}' is listed twice", fat, name));
    }
    if (f.contains("description") && !f["description"].is_null()) {
      get_string(f["description"], fat + ".description");
    }
    if (f.contains("parameters") && !f["parameters"].is_null() && !f["parameters"].is_object()) {
      wrong_type(fat + ".parameters", "an object (a JSON Schema)", f["parameters"]);
    }
    if (f.contains("strict") && !f["strict"].is_null()) get_bool(f["strict"], fat + ".strict");
    names.push_back(std::move(name));
  }
  return names;
}

void parse_tool_choice(const json& v, ParsedRequest& out) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "auto") out.tool_choice = ToolChoice::Auto;
    else if (s == "none") out.tool_choice = ToolChoice::None;
    else if (s == "required") out.tool_choice = ToolChoice::Required;
    else {
      invalid("tool_choice", fmt::format("'tool_choice' must be \"none\", \"auto\", \"required\" or "
                                         "{{\"type\": \"function\", \"function\": {{\"name\": ...}}}} (got "
                                         "\"{}\")",
                                         s.size() > 40 ? s.substr(0, 37) + "..." : s));
    }
    return;
  }
  if (!v.is_object()) wrong_type("tool_choice", "a string or an object", v);
  check_known_fields(v, "tool_choice", {"type", "function"});
  const std::string type = get_string(required_field(v, "tool_choice", "type"), "tool_choice.type");
  if (type != "function") {
    invalid("tool_choice.type",
            fmt::format("'tool_choice.type' must be \"function\" (got \"{}\")", type),
            "unsupported_value");
  }
  const json& f = required_field(v, "tool_choice", "function");
  if (!f.is_object()) wrong_type("tool_choice.function", "an object", f);
  check_known_fields(f, "tool_choice.function", {"name"});
  out.tool_choice = ToolChoice::Named;
  out.tool_choice_name =
      get_string(required_field(f, "tool_choice.function", "name"), "tool_choice.function.name");
}

void parse_prompt(const json& v, ParsedRequest& out) {
  if (v.is_string()) {
    out.prompt_text = v.get<std::string>();
    return;
  }
  if (!v.is_array()) {
    wrong_type("prompt", "a string, an array of token ids, or an array with one of those", v);
  }
  if (v.empty()) invalid("prompt", "'prompt' must not be empty");
  const json* ids = &v;
  if (v[0].is_string() || v[0].is_array()) {
    if (v.size() != 1) {
      invalid("prompt", fmt::format("only one prompt per request is supported (got {})",
                                    v.size()),
              "unsupported_value");
    }
    if (v[0].is_string()) {
      out.prompt_text = v[0].get<std::string>();
      return;
    }
    ids = &v[0];
    if (ids->empty()) invalid("prompt", "'prompt' must not be empty");
  }
  for (size_t i = 0; i < ids->size(); ++i) {
    const json& id = (*ids)[i];
    if (!id.is_number_integer()) wrong_type(fmt::format("prompt[{}]", i), "a token id", id);
    if (id.is_number_unsigned() && id.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
      invalid("prompt", fmt::format("token id {} is outside the vocabulary", id.dump()));
    }
    out.prompt_ids.push_back(id.get<int64_t>());
  }
}

}  // namespace

ParsedRequest parse_request(std::string_view body, Endpoint endpoint) {
  std::string why;
  std::optional<json> parsed = try_parse_json(body, &why);
  if (!parsed) throw ApiError(400, "the request body is not valid JSON: " + why, "invalid_json");
  json doc = std::move(*parsed);
  if (!doc.is_object()) {
    throw ApiError(400, "the request body must be a JSON object (got " + describe(doc) + ")",
                   "invalid_type");
  }

  const bool chat = endpoint == Endpoint::ChatCompletions;
  ParsedRequest out;
  out.endpoint = endpoint;
  bool saw_input = false;
  std::optional<uint64_t> max_tokens, max_completion_tokens;
  std::optional<uint32_t> top_logprobs;
  bool saw_tools = false, saw_tool_choice = false;
  for (const auto& [key, v] : doc.items()) {
    // null means "not given" for every optional field, as in the OpenAI API.
    if (v.is_null() && key != "messages" && key != "prompt") continue;
    if (key == "model") {
      out.model = get_string(v, key);
    } else if (chat && key == "messages") {
      out.messages = parse_messages(v);
      saw_input = true;
    } else if (!chat && key == "prompt") {
      parse_prompt(v, out);
      saw_input = true;
    } else if (key == "stream") {
      out.stream = get_bool(v, key);
    } else if (key == "stream_options") {
      if (!v.is_object()) wrong_type(key, "an object", v);
      for (const auto& [k2, v2] : v.items()) {
        if (k2 != "include_usage") {
          invalid("stream_options." + k2, "unknown field 'stream_options." + k2 + "'",
                  "unknown_field");
        }
        if (!v2.is_null()) out.include_usage = get_bool(v2, "stream_options.include_usage");
      }
    } else if (key == "max_tokens") {
      max_tokens = get_positive_int(v, key);
    } else if (chat && key == "max_completion_tokens") {
      max_completion_tokens = get_positive_int(v, key);
    } else if (key == "temperature") {
      out.sampling.temperature = static_cast<float>(get_number(v, key, 0.0, 2.0));
    } else if (key == "top_p") {
      out.sampling.top_p = static_cast<float>(get_number(v, key, 0.0, 1.0));
    } else if (key == "seed") {
      if (!v.is_number_integer()) wrong_type(key, "an integer", v);
      // Any 64-bit integer, negative ones included, is a seed.
      out.sampling.seed = v.is_number_unsigned() ? v.get<uint64_t>()
                                                 : static_cast<uint64_t>(v.get<int64_t>());
      out.seed_given = true;
    } else if (key == "stop") {
      out.stop = get_stop(v);
    } else if (key == "top_k") {
      out.sampling.top_k = get_top_k(v);
    } else if (key == "min_p") {
      out.sampling.min_p = static_cast<float>(get_number(v, key, 0.0, 1.0));
    } else if (key == "repetition_penalty") {
      out.sampling.repetition_penalty = get_repetition_penalty(v);
    } else if (key == "presence_penalty") {
      out.sampling.presence_penalty = static_cast<float>(get_number(v, key, -2.0, 2.0));
    } else if (key == "frequency_penalty") {
      out.sampling.frequency_penalty = static_cast<float>(get_number(v, key, -2.0, 2.0));
    } else if (key == "logit_bias") {
      out.sampling.logit_bias = get_logit_bias(v);
    } else if (chat && key == "logprobs") {
      out.sampling.logprobs = get_bool(v, key);
    } else if (chat && key == "top_logprobs") {
      top_logprobs = static_cast<uint32_t>(get_int(v, key, 0, kMaxChatTopLogprobs));
    } else if (!chat && key == "logprobs") {
      // Legacy completions: an integer; even 0 asks for the sampled tokens' log-probabilities.
      out.sampling.logprobs = true;
      out.sampling.top_logprobs =
          static_cast<uint32_t>(get_int(v, key, 0, kMaxCompletionLogprobs));
    } else if (key == "user") {
      get_string(v, key);  // accepted and ignored
    } else if (chat && key == "store") {
      get_bool(v, key);  // accepted and ignored: nothing is stored
    } else if (chat && key == "parallel_tool_calls") {
      out.parallel_tool_calls = get_bool(v, key);
    } else if (chat && key == "tools") {
      out.tool_names = check_tools(v);
      saw_tools = true;
    } else if (chat && key == "tool_choice") {
      parse_tool_choice(v, out);
      saw_tool_choice = true;
    } else if (chat && key == "metadata") {
      check_metadata(v);  // accepted and ignored
    } else {
      bool known = false;
      for (const NeutralField& f : neutral_fields(endpoint)) {
        if (key != f.name) continue;
        known = true;
        if (!f.is_neutral(v)) {
          invalid(key,
                  fmt::format("'{}' is only supported with its default value {} (got {})", key,
                              f.neutral, describe(v)),
                  "unsupported_value");
        }
      }
      if (!known) invalid(key, fmt::format("unknown field '{}'", key), "unknown_field");
    }
  }
  if (!saw_input) {
    const char* field = chat ? "messages" : "prompt";
    invalid(field, fmt::format("'{}' is required", field), "missing_field");
  }
  if (saw_tools && !out.tool_names.empty()) {
    // Again in document order: the template prints the tools (tojson), and a JSON Schema's key
    // order is the client's.
    std::string why;
    auto ordered = try_parse_json<nlohmann::ordered_json>(body, &why);
    if (ordered) out.tools = std::move((*ordered)["tools"]);
  }
  if (saw_tool_choice && out.tool_names.empty() && out.tool_choice != ToolChoice::None &&
      out.tool_choice != ToolChoice::Auto) {
    invalid("tool_choice", "'tool_choice' names a tool to call but 'tools' lists none");
  }
  if (out.tool_choice == ToolChoice::Named &&
      std::find(out.tool_names.begin(), out.tool_names.end(), out.tool_choice_name) ==
          out.tool_names.end()) {
    invalid("tool_choice",
            fmt::format("'tool_choice' names the function '{}', which 'tools' does not list",
                        out.tool_choice_name.size() > 64 ? out.tool_choice_name.substr(0, 61) + "..."
                                                         : out.tool_choice_name));
  }
  if (top_logprobs) {
    if (*top_logprobs > 0 && !out.sampling.logprobs) {
      invalid("top_logprobs",
              fmt::format("'top_logprobs' ({}) needs 'logprobs': true", *top_logprobs));
    }
    out.sampling.top_logprobs = *top_logprobs;
  }
  if (max_tokens && max_completion_tokens && *max_tokens != *max_completion_tokens) {
    invalid("max_completion_tokens",
            "'max_tokens' and 'max_completion_tokens' disagree; give only one");
  }
  if (max_completion_tokens) {
    out.max_tokens = max_completion_tokens;
    out.max_tokens_field = "max_completion_tokens";
  } else if (max_tokens) {
    out.max_tokens = max_tokens;
    out.max_tokens_field = "max_tokens";
  }
  // top_p = 0 keeps only the most likely token: greedy.
  if (out.sampling.top_p <= 0.0f) {
    out.sampling.temperature = 0.0f;
    out.sampling.top_p = 1.0f;
  }
  return out;
}

}  // namespace mlxcel::server
