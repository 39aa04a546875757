// Scheduling behaviour through HTTP: batched decode, the bounded queue and 503, a disconnected
// client freeing its sequence, streaming that is not buffered, graceful stop.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <nlohmann/json.hpp>

#include "server_fixture.h"
#include "test_engine.h"

namespace mlxcel::server::test {
namespace {

using nlohmann::json;

// One sequence slot, a 4096-token context and a fixed time per decode step: requests queue
// behind each other and a long generation lasts long enough to interrupt.
TestEngineOptions one_slot(int step_ms) {
  TestEngineOptions o;
  o.slots = 1;
  o.context = 4096;
  o.step_delay = std::chrono::milliseconds(step_ms);
  return o;
}

std::string stream_body(int max_tokens) {
  return json({{"prompt", "x"}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", true}})
      .dump();
}

uint64_t metric_value(httplib::Client& c, const std::string& name) {
  auto res = c.Get("/metrics");
  if (!res) return ~0ull;
  const std::string& m = res->body;
  const size_t at = m.find("\n" + name + " ");
  if (at == std::string::npos) return ~0ull;
  return std::stoull(m.substr(at + name.size() + 2));
}

TEST(Concurrency, SequencesDecodeTogetherInOneStep) {
  TestEngineOptions o;
  o.slots = 4;
  o.context = 256;
  o.step_delay = std::chrono::milliseconds(5);
  TestEngine engine(o);
  RunningServer server(engine);
  std::vector<std::future<int>> results;
  for (int i = 0; i < 4; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      auto c = server.client();
      auto res = c.Post("/v1/completions",
                        json({{"prompt", "x"}, {"max_tokens", 60}, {"temperature", 0}}).dump(),
                        "application/json");
      return res ? res->status : -1;
    }));
  }
  for (auto& r : results) EXPECT_EQ(r.get(), 200);
  // 60 steps of 5 ms each per request: the four overlap and share steps.
  EXPECT_EQ(engine.max_batch(), 4u);
  // Shared steps: far fewer than 4 x 60 = 240 steps in total.
  EXPECT_LT(engine.steps(), 200u);
}

TEST(Concurrency, QueueBoundThen503WithRetryAfter) {
  TestEngine engine(one_slot(10));
  ServerOptions so;
  so.queue_size = 1;
  RunningServer server(engine, so);

  // One request takes the slot, one waits in the queue.
  const int active = raw_post(server.port(), "/v1/completions", stream_body(1000));
  ASSERT_TRUE(eventually([&] { return engine.active_slots() == 1; }));
  const int queued = raw_post(server.port(), "/v1/completions", stream_body(3));
  auto c = server.client();
  ASSERT_TRUE(eventually([&] { return metric_value(c, "mlxcel_requests_queued") == 1; }));

  auto res = c.Post("/v1/completions", json({{"prompt", "x"}, {"max_tokens", 1}}).dump(),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  const json j = json::parse(res->body);
  EXPECT_EQ(j["error"]["type"], "server_error");
  EXPECT_EQ(j["error"]["code"], "server_overloaded");
  EXPECT_EQ(j["error"]["message"],
            "all 1 sequences are busy and the queue is full (1 waiting); retry later");
  EXPECT_EQ(metric_value(c, "mlxcel_refusals_total{reason=\"queue_full\"}"), 1u);

  // Freeing the slot lets the queued request run to its end.
  ::close(active);
  const std::string rest = read_until(queued, "data: [DONE]", 5000);
  EXPECT_NE(rest.find("data: [DONE]"), std::string::npos) << rest;
  ::close(queued);
  ASSERT_TRUE(eventually([&] { return engine.active_slots() == 0; }));
  auto ok = c.Post("/v1/completions", json({{"prompt", "say:ok"}}).dump(), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(Concurrency, DisconnectMidStreamFreesTheSequence) {
  TestEngine engine(one_slot(5));
  RunningServer server(engine);
  auto c = server.client();
  const uint64_t baseline = active_memory();

  const int fd = raw_post(server.port(), "/v1/completions", stream_body(4000));
  const std::string first = read_until(fd, "data: {", 3000);
  ASSERT_NE(first.find("data: {"), std::string::npos) << first;
  EXPECT_EQ(engine.active_slots(), 1u);
  ::close(fd);
  // 4000 tokens would take 20 s; the slot must come back within a few steps.
  EXPECT_TRUE(eventually([&] { return engine.active_slots() == 0; }, 2000));
  EXPECT_TRUE(eventually([&] { return metric_value(c, "mlxcel_requests_cancelled_total") == 1; }));
  EXPECT_LT(engine.steps(), 400u);
  EXPECT_EQ(active_memory(), baseline);  // the sequence's buffers went back
  auto res = c.Post("/v1/completions", json({{"prompt", "say:next"}}).dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["choices"][0]["text"], "next");
}

TEST(Concurrency, DisconnectWhileQueuedLeavesTheQueue) {
  TestEngine engine(one_slot(5));
  RunningServer server(engine);
  auto c = server.client();

  const int active = raw_post(server.port(), "/v1/completions", stream_body(4000));
  ASSERT_TRUE(eventually([&] { return engine.active_slots() == 1; }));
  const int queued = raw_post(server.port(), "/v1/completions", stream_body(10));
  ASSERT_TRUE(eventually([&] { return metric_value(c, "mlxcel_requests_queued") == 1; }));
  ::close(queued);
  // Found by the keep-alive comment written every second to a waiting stream.
  EXPECT_TRUE(eventually([&] { return metric_value(c, "mlxcel_requests_queued") == 0; }, 4000));
  EXPECT_EQ(engine.admitted(), 1u);  // the queued request never reached the engine
  ::close(active);
  EXPECT_TRUE(eventually([&] { return engine.active_slots() == 0; }));
}

// Without the socket check the request below would hold its sequence for all of its 4000 tokens
// (at least 4000 x 5 ms = 20 s); the slot must come back within a few steps of the close.
TEST(Concurrency, DisconnectBeforeANonStreamedAnswerFreesTheSequence) {
  TestEngine engine(one_slot(5));
  RunningServer server(engine);
  auto c = server.client();
  const uint64_t baseline = active_memory();

  const int fd = raw_post(server.port(), "/v1/completions",
                          json({{"prompt", "x"}, {"max_tokens", 4000}, {"temperature", 0}}).dump());
  ASSERT_TRUE(eventually([&] { return engine.active_slots() == 1; }));
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return engine.active_slots() == 0; }, 3000));
  EXPECT_TRUE(eventually([&] { return metric_value(c, "mlxcel_requests_cancelled_total") == 1; }));
  EXPECT_LT(engine.steps(), 4000u);  // it never reached max_tokens
  // Counted as 499 (client closed request), not as an answered 200.
  EXPECT_TRUE(eventually([&] {
    return metric_value(c, "mlxcel_requests_total{route=\"/v1/completions\",status=\"499\"}") ==
           1;
  }));
  EXPECT_EQ(active_memory(), baseline);  // the sequence's buffers went back
  auto res = c.Post("/v1/completions", json({{"prompt", "say:next"}}).dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["choices"][0]["text"], "next");
  EXPECT_EQ(metric_value(c, "mlxcel_requests_cancelled_total"), 1u);
}

TEST(Concurrency, DisconnectWhileANonStreamedRequestIsQueuedLeavesTheQueue) {
  TestEngine engine(one_slot(5));
  RunningServer server(engine);
  auto c = server.client();

  const int active = raw_post(server.port(), "/v1/completions", stream_body(4000));
  ASSERT_TRUE(eventually([&] { return engine.active_slots() == 1; }));
  const int queued = raw_post(server.port(), "/v1/completions",
                              json({{"prompt", "x"}, {"max_tokens", 10}}).dump());
  ASSERT_TRUE(eventually([&] { return metric_value(c, "mlxcel_requests_queued") == 1; }));
  ::close(queued);
  EXPECT_TRUE(eventually([&] { return metric_value(c, "mlxcel_requests_queued") == 0; }));
  EXPECT_TRUE(eventually([&] { return metric_value(c, "mlxcel_requests_cancelled_total") == 1; }));
  EXPECT_EQ(engine.admitted(), 1u);  // the queued request never reached the engine
  ::close(active);
  EXPECT_TRUE(eventually([&] { return engine.active_slots() == 0; }));
}

// The check must not mistake a client that keeps talking for one that left: a second request
// sent on the connection while the first is generating (its bytes wait unread in the socket) does
// not cancel the first, and both get their whole answers.
TEST(Concurrency, PipelinedNonStreamedRequestsAreBothAnswered) {
  TestEngine engine(one_slot(5));
  RunningServer server(engine);
  auto c = server.client();

  // 40 greedy tokens: "abcdefghij" four times, 40 steps of at least 5 ms.
  const int fd = raw_post(server.port(), "/v1/completions",
                          json({{"prompt", "x"}, {"max_tokens", 40}, {"temperature", 0}}).dump());
  ASSERT_TRUE(eventually([&] { return engine.active_slots() == 1; }));
  const std::string second = json({{"prompt", "say:two"}}).dump();
  const std::string request =
      "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(second.size()) + "\r\n\r\n" + second;
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  // A response is written only once its generation ended, so when the second one's text is
  // here neither can be cancelled any more.
  const std::string replies = read_until(fd, "\"text\":\"two\"", 5000);
  ::close(fd);
  EXPECT_NE(replies.find("\"text\":\"abcdefghijabcdefghijabcdefghijabcdefghij\""),
            std::string::npos)
      << replies;
  EXPECT_NE(replies.find("\"text\":\"two\""), std::string::npos) << replies;
  EXPECT_EQ(metric_value(c, "mlxcel_requests_cancelled_total"), 0u);
}

TEST(Concurrency, StreamIsNotBufferedEvenWhenTheClientAcceptsGzip) {
  TestEngine engine(one_slot(10));
  RunningServer server(engine);
  // 300 tokens x 10 ms = 3 s in all; the first chunk must arrive long before the end.
  const int fd = raw_post(server.port(), "/v1/completions", stream_body(300),
                          "Accept-Encoding: gzip, deflate, br\r\n");
  const std::string first = read_until(fd, "data: {", 1500);
  ::close(fd);
  EXPECT_NE(first.find("data: {"), std::string::npos) << first;
  EXPECT_EQ(first.find("Content-Encoding"), std::string::npos) << first;
  EXPECT_EQ(first.find("[DONE]"), std::string::npos);
}

TEST(Concurrency, StopEndsActiveStreamsWithAnErrorEvent) {
  TestEngine engine(one_slot(5));
  auto server = std::make_unique<RunningServer>(engine);
  const int fd = raw_post(server->port(), "/v1/completions", stream_body(4000));
  ASSERT_NE(read_until(fd, "data: {", 3000).find("data: {"), std::string::npos);
  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { server->stop(); });
  const std::string tail = read_until(fd, "server_shutting_down", 3000);
  stopper.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(tail.find("\"code\":\"server_shutting_down\""), std::string::npos) << tail;
  EXPECT_LT(seconds, 3.0);
  EXPECT_EQ(engine.active_slots(), 0u);
  ::close(fd);
}

TEST(Concurrency, StopBeforeServeReturnsAtOnce) {
  TestEngine engine;
  HttpServer server(engine, ServerOptions{});
  server.stop();
  server.serve();  // returns at once: stop came first
  SUCCEED();
}

}  // namespace
}  // namespace mlxcel::server::test
