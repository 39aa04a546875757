// Python str semantics over UTF-8 std::string: code-point lengths and slicing, whitespace,
// case mapping, and the str methods chat templates call. Strings are UTF-8; bytes that are not
// valid UTF-8 are carried through as U+DC80..U+DCFF (Python's surrogateescape) so nothing is lost.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlxcel::templates::text {

// Well-formedness is core/utf8.h's; each malformed byte b decodes to U+DC00 + b, and encoding
// turns U+DC80..U+DCFF back into that single byte.
std::u32string decode(std::string_view s);
std::string encode(std::u32string_view s);
void append_utf8(std::string& out, char32_t cp);
bool is_ascii(std::string_view s);
// Number of code points (Python len()).
size_t length(std::string_view s);

// Python str.isspace() for one code point.
bool is_space(char32_t c);
// Python's line boundaries (str.splitlines).
bool is_line_break(char32_t c);
// Python str.isprintable() for one code point (what repr() leaves unescaped).
bool is_printable(char32_t c);
// Letters and digits in the sense of Python's \w (approximate outside Latin/Greek/Cyrillic:
// every other non-ASCII code point counts as a word character).
bool is_word(char32_t c);

// Case mapping for ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic and fullwidth Latin; other
// code points are left as they are.
std::u32string upper(char32_t c);
char32_t lower(char32_t c);
bool is_cased(char32_t c);
bool is_lower_char(char32_t c);
bool is_upper_char(char32_t c);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);  // str.capitalize()
std::string title(std::string_view s);       // str.title()
bool islower(std::string_view s);            // str.islower()
bool isupper(std::string_view s);            // str.isupper()

// str.strip/lstrip/rstrip; chars = nullopt strips whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right);
// str.split / str.rsplit; sep = nullopt splits on whitespace runs. maxsplit < 0 is unlimited.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep,
                                int64_t maxsplit);
std::vector<std::string> splitlines(std::string_view s, bool keepends);
// str.replace; count < 0 replaces all.
std::string replace(std::string_view s, std::string_view old, std::string_view repl,
                    int64_t count);
// Size in bytes of replace(s, old, repl, count), computed without building it.
uint64_t replaced_size(std::string_view s, std::string_view old, std::string_view repl,
                       int64_t count);
// How many parts split (or rsplit, give or take overlapping separators) and splitlines return,
// counted without building them.
size_t split_count(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
size_t splitlines_count(std::string_view s);
// str.find / str.rfind / str.count in code points (-1 when absent).
int64_t find(std::string_view s, std::string_view sub, bool reverse);
int64_t count(std::string_view s, std::string_view sub);

// repr() of a str: quotes chosen like Python, escapes for non-printable characters.
std::string string_repr(std::string_view s);
// markupsafe.escape: & < > " ' as HTML entities.
std::string html_escape(std::string_view s);
// Size in bytes of html_escape(s).
uint64_t html_escaped_size(std::string_view s);

}  // namespace mlxcel::templates::text
