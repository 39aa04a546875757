// A bounded load generator for the server tests: `clients` threads share `requests` requests,
// mixing non-streamed and streamed completions and chat completions, and every tenth request is a
// stream the client abandons after its first event. Each response is checked for its shape.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mlxcel::server::test {

struct LoadResult {
  std::map<int, uint64_t> by_status;  // HTTP status -> count (abandoned streams not counted)
  uint64_t abandoned = 0;
  std::vector<std::string> problems;  // malformed responses, transport errors
};

// `prompts` are used in turn (completions prompt / chat user message); max_tokens per request.
LoadResult run_load(int port, int clients, int requests, const std::vector<std::string>& prompts,
                    int max_tokens);

}  // namespace mlxcel::server::test
