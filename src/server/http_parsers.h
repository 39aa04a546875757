// The two Beast parsers a request goes through, limited as the server limits them: shared by the
// transport (http_session.cpp) and the fuzz harness of the request parser, so the harness parses
// exactly what the server would.
#pragma once

#include <boost/beast/http.hpp>
#include <cstdint>
#include <limits>

#include "server/http_session.h"

namespace mlxcel::server {

using HeadParser = boost::beast::http::request_parser<boost::beast::http::empty_body>;
using BodyParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// The header: at most max_header_bytes (431 beyond). The declared length is judged by the
// transport after the header (413 with its own message); Beast's default 1 MiB limit would fail
// the header read first. Not boost::none: Boost 1.74 compares the length with the optional
// itself, and every length is "greater" than none.
inline void limit_head_parser(HeadParser& p, const TransportLimits& limits) {
  p.header_limit(limits.max_header_bytes);
  p.body_limit(std::numeric_limits<uint64_t>::max());
}

// The body, built from the header parser: at most max_body, chunked too. A chunked body grows as
// it arrives; reserving its limit (which the body budget counts anyway) spares the
// reallocations that would hold an old and a new copy at once.
inline void limit_body_parser(BodyParser& p, const TransportLimits& limits, bool chunked) {
  p.body_limit(limits.max_body);
  if (chunked) p.get().body().reserve(limits.max_body);
}

}  // namespace mlxcel::server
