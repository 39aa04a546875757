// JSON from untrusted files and clients. nlohmann's parser is iterative, but dumping a value and
// some of its error paths recurse once per nesting level, so a document nested 100,000 deep
// overflows the stack. Every untrusted document is therefore checked for depth before it is
// parsed, and every nlohmann exception (syntax, number overflow such as 1e400, invalid UTF-8)
// becomes one message the caller wraps in its own error type.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mlxcel {

// Deeper than any real config, tokenizer, header or OpenAI request (they nest < 10 levels);
// shallow enough that every recursive walk over the value stays far from the stack's end.
inline constexpr size_t kMaxJsonDepth = 128;

// The first byte offset at which arrays/objects nest deeper than max_depth (strings, escapes
// included, are skipped), or nullopt. Linear in the text; allocates nothing.
std::optional<size_t> json_depth_exceeded(std::string_view text, size_t max_depth = kMaxJsonDepth);

// Parses text or returns why not (message without component; e.g. "nested deeper than 128
// levels at byte 130" or "number overflow parsing '1e400'"; the overflow message has no position).
template <class Json = nlohmann::json>
std::optional<Json> try_parse_json(std::string_view text, std::string* why,
                                   size_t max_depth = kMaxJsonDepth);

extern template std::optional<nlohmann::json> try_parse_json<nlohmann::json>(std::string_view,
                                                                            std::string*, size_t);
extern template std::optional<nlohmann::ordered_json> try_parse_json<nlohmann::ordered_json>(
    std::string_view, std::string*, size_t);

}  // namespace mlxcel
