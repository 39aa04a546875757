#include "load_runner.h"

#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "server_fixture.h"

namespace mlxcel::server::test {

using nlohmann::json;

namespace {

// Checks one answer; returns "" when it is well formed.
std::string check(const httplib::Result& res, bool stream, bool chat) {
  if (!res) return "transport error " + httplib::to_string(res.error());
  if (res->status != 200) {
    try {
      const json j = json::parse(res->body);
      if (!j.contains("error") || !j["error"]["message"].is_string()) return "bad error body";
    } catch (const std::exception& e) {
      return std::string("error body is not JSON: ") + e.what();
    }
    return {};
  }
  try {
    if (!stream) {
      const json j = json::parse(res->body);
      if (!j["usage"]["completion_tokens"].is_number_integer()) return "no usage";
      return {};
    }
    const std::vector<std::string> events = sse_payloads(res->body);
    if (events.empty() || events.back() != "[DONE]") return "stream without [DONE]";
    for (size_t i = 0; i + 1 < events.size(); ++i) {
      const json chunk = json::parse(events[i]);
      if (chunk.contains("error")) return "error event in stream";
      if (chunk["object"] != (chat ? "chat.completion.chunk" : "text_completion")) {
        return "wrong chunk object";
      }
    }
  } catch (const std::exception& e) {
    return std::string("malformed body: ") + e.what();
  }
  return {};
}

}  // namespace

LoadResult run_load(int port, int clients, int requests, const std::vector<std::string>& prompts,
                    int max_tokens) {
  LoadResult result;
  std::mutex mutex;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(60, 0);
      for (int i = next++; i < requests; i = next++) {
        const std::string& prompt = prompts[static_cast<size_t>(i) % prompts.size()];
        const bool chat = i % 3 == 0;
        const bool stream = i % 2 == 0;
        json body = {{"max_tokens", max_tokens}, {"stream", stream}};
        if (chat) {
          body["messages"] = {{{"role", "user"}, {"content", prompt}}};
        } else {
          body["prompt"] = prompt;
        }
        const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
        if (i % 10 == 5) {
          // A client that goes away after the first event.
          body["stream"] = true;
          const int fd = raw_post(port, path, body.dump());
          read_until(fd, "data: ", 10000);
          ::close(fd);
          std::lock_guard lock(mutex);
          ++result.abandoned;
          continue;
        }
        auto res = client.Post(path, body.dump(), "application/json");
        const std::string problem = check(res, stream, chat);
        std::lock_guard lock(mutex);
        if (res) ++result.by_status[res->status];
        if (!problem.empty()) result.problems.push_back(problem);
      }
    });
  }
  for (auto& t : threads) t.join();
  return result;
}

}  // namespace mlxcel::server::test
