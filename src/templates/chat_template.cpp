#include "templates/chat_template.h"

#include <fstream>
#include <sstream>

#include "templates/builtins.h"
#include "templates/lexer.h"
#include "templates/parser.h"

namespace mlxcel::templates {

namespace {

constexpr int kMaxJsonDepth = 512;

template <typename Json>
Value from_json(const Json& j, int depth) {
  if (depth > kMaxJsonDepth) {
    throw FormatError("templates", "template context nested deeper than 512 levels");
  }
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::floating(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value::floating(j.template get<double>());
    case nlohmann::json::value_t::string: return Value::string(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      auto d = std::make_shared<Dict>();
      d->entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        d->entries.emplace_back(Value::string(it.key()), from_json(it.value(), depth + 1));
      }
      return Value::dict(std::move(d));
    }
    default:
      throw FormatError("templates", "template context holds a value JSON cannot express (binary)");
  }
}

ParseOptions parse_options(const RenderLimits& limits) {
  ParseOptions o;
  o.max_depth = limits.max_nesting_depth;
  o.has_filter = [](const std::string& n) { return find_filter(n) != nullptr; };
  o.has_test = [](const std::string& n) { return find_test(n) != nullptr; };
  return o;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("templates", "cannot open " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IoError("templates", "cannot read " + path.string());
  return ss.str();
}

nlohmann::ordered_json read_json(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError("templates", "invalid JSON (" + path.string() + ", " + e.what() + ")");
  }
}

// A chat_template value: a string, or a list of {"name", "template"} entries.
std::optional<ChatTemplateSource> pick_template(const nlohmann::ordered_json& value,
                                                const std::filesystem::path& file,
                                                const std::string& name) {
  if (value.is_string()) return ChatTemplateSource{value.get<std::string>(), file.string(), false};
  if (value.is_null()) return std::nullopt;
  if (!value.is_array()) {
    throw ConfigError("templates", "chat_template is neither a string nor a list (" + file.string() +
                                       ", chat_template, " + std::string(value.type_name()) + ")");
  }
  std::string names;
  for (const auto& entry : value) {
    if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") ||
        !entry["name"].is_string() || !entry["template"].is_string()) {
      throw ConfigError("templates", "chat_template list entry lacks a string name and template (" +
                                         file.string() + ", chat_template)");
    }
    const std::string n = entry["name"].get<std::string>();
    if (n == name) return ChatTemplateSource{entry["template"].get<std::string>(), file.string() + "#" + n, false};
    names += (names.empty() ? "" : ", ") + n;
  }
  throw ConfigError("templates", "no chat template named '" + name + "' (" + file.string() +
                                     ", chat_template, available: " + names + ")");
}

std::string token_string(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

}  // namespace

const char* const kFallbackChatTemplate =
    "{{- bos_token if bos_token is string else '' -}}\n"
    "{%- for message in messages -%}\n"
    "  {%- if message.content is string -%}\n"
    "    {%- set content = message.content -%}\n"
    "  {%- elif message.content is iterable and message.content is not mapping -%}\n"
    "    {%- set content = message.content | selectattr('type', 'equalto', 'text')"
    " | map(attribute='text') | join('\\n') -%}\n"
    "  {%- else -%}\n"
    "    {%- set content = '' -%}\n"
    "  {%- endif -%}\n"
    "  {{- message.role | capitalize }}: {{ content | trim }}{{ '\\n\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}Assistant:{%- endif -%}\n";

struct Template::Impl {
  LexedTemplate lexed;
  Body body;
  RenderOptions options;

  std::string render(const Value& context) const {
    auto globals = std::make_shared<Frame>();
    install_globals(*globals);
    auto root = std::make_shared<Frame>(globals);
    for (const auto& [k, v] : context.as_dict().entries) root->vars[k.as_string()] = v;
    Interpreter in(lexed, options);
    return in.render(body, root);
  }
};

Template::Template(const std::string& source, RenderOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->lexed = lex(source);
  impl_->body = parse(impl_->lexed, parse_options(options.limits));
  impl_->options = std::move(options);
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

const RenderOptions& Template::options() const { return impl_->options; }

std::string Template::render(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) throw FormatError("templates", "template context must be a JSON object");
  return impl_->render(from_json(context, 0));
}

std::string Template::render(const nlohmann::json& context) const {
  if (!context.is_object()) throw FormatError("templates", "template context must be a JSON object");
  return impl_->render(from_json(context, 0));
}

std::string render_chat_template(const std::string& source, const nlohmann::ordered_json& context) {
  return Template(source).render(context);
}

std::string render_chat_template(const std::string& source, const nlohmann::json& context) {
  return Template(source).render(context);
}

nlohmann::ordered_json make_chat_context(const nlohmann::ordered_json& messages,
                                         bool add_generation_prompt,
                                         const nlohmann::ordered_json& tools,
                                         const nlohmann::ordered_json& special_tokens,
                                         const nlohmann::ordered_json& extra) {
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = messages;
  ctx["tools"] = tools;
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = add_generation_prompt;
  if (special_tokens.is_object()) {
    for (auto it = special_tokens.begin(); it != special_tokens.end(); ++it) ctx[it.key()] = it.value();
  }
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) ctx[it.key()] = it.value();
  }
  return ctx;
}

std::optional<ChatTemplateSource> find_chat_template(const std::filesystem::path& model_dir,
                                                     const std::string& name) {
  const auto jinja = model_dir / "chat_template.jinja";
  if (std::filesystem::is_regular_file(jinja)) return ChatTemplateSource{read_file(jinja), jinja.string(), false};
  for (const char* file : {"tokenizer_config.json", "chat_template.json"}) {
    const auto path = model_dir / file;
    if (!std::filesystem::is_regular_file(path)) continue;
    const auto j = read_json(path);
    if (j.is_object() && j.contains("chat_template")) {
      if (auto t = pick_template(j["chat_template"], path, name)) return t;
    }
  }
  return std::nullopt;
}

ChatTemplateSource load_chat_template(const std::filesystem::path& model_dir, const std::string& name) {
  if (auto t = find_chat_template(model_dir, name)) return *t;
  return ChatTemplateSource{kFallbackChatTemplate, "builtin fallback", true};
}

nlohmann::ordered_json load_special_tokens(const std::filesystem::path& model_dir) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const char* file : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const auto path = model_dir / file;
    if (!std::filesystem::is_regular_file(path)) continue;
    const auto j = read_json(path);
    if (!j.is_object()) continue;
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
      if (out.contains(key) || !j.contains(key)) continue;
      const std::string s = token_string(j[key]);
      if (!s.empty()) out[key] = s;
    }
  }
  return out;
}

}  // namespace mlxcel::templates
