#include "core/json_input.h"

#include <fmt/format.h>

namespace mlxcel {

std::optional<size_t> json_depth_exceeded(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

template <class Json>
std::optional<Json> try_parse_json(std::string_view text, std::string* why, size_t max_depth) {
  if (auto at = json_depth_exceeded(text, max_depth)) {
    if (why) *why = fmt::format("nested deeper than {} levels at byte {}", max_depth, *at);
    return std::nullopt;
  }
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at ..."; keep what follows the
    // library's tag, which names the position and the offending token.
    std::string_view w = e.what();
    if (const size_t close = w.find("] "); w.rfind("[json.exception.", 0) == 0 &&
                                           close != std::string_view::npos) {
      w.remove_prefix(close + 2);
    }
    if (why) *why = std::string(w);
    return std::nullopt;
  }
}

template std::optional<nlohmann::json> try_parse_json<nlohmann::json>(std::string_view,
                                                                     std::string*, size_t);
template std::optional<nlohmann::ordered_json> try_parse_json<nlohmann::ordered_json>(
    std::string_view, std::string*, size_t);

}  // namespace mlxcel
