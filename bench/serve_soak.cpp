// A bounded loopback soak of `mlxcel serve`: starts the real binary on a model, then for
// --duration seconds runs --clients connections mixing streamed and non-streamed chat and text
// completions, streams abandoned after their first event, oversized bodies (413 expected), and
// --slow clients that trickle a header line every 2 s (each is cut off by the header deadline and
// reconnects). A prober times GET /health every 100 ms; a sampler reads the server's RSS
// (/proc/PID/status) and allocator figures (/metrics) every second. Prints request and status
// counts, p50/p99 latencies, memory before / during / after, and the checks of the reliability
// issue; passes or fails nothing (exit 0 unless the server could not be started).
//
//   bench_serve_soak [--mlxcel PATH] [--model DIR] [--duration S] [--clients N] [--slow N]
//                    [--parallel N] [--ctx-size N] [--port P] [--max-tokens N]
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>

#include "bench_args.h"

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string mlxcel = "build/mlxcel";
  std::string model;  // default: the embedded model
  uint64_t duration = 600;
  uint64_t clients = 64;
  uint64_t slow = 64;
  uint64_t parallel = 4;
  uint64_t ctx = 512;
  uint64_t port = 18190;
  uint64_t max_tokens = 48;
};

struct Stats {
  std::mutex mutex;
  std::map<std::string, std::map<int, uint64_t>> status;  // kind -> status -> count
  std::vector<double> health_ms, completion_ms;
  uint64_t transport_errors = 0, abandoned = 0, slow_cutoffs = 0, slow_connects = 0;
  std::vector<std::string> problems;
  void count(const std::string& kind, int code) {
    std::lock_guard l(mutex);
    ++status[kind][code];
  }
  void problem(std::string p) {
    std::lock_guard l(mutex);
    if (problems.size() < 20) problems.push_back(std::move(p));
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string recv_some(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return {};
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

uint64_t rss_of(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stoull(line.substr(std::strlen(field))) * 1024;
  }
  return 0;
}

uint64_t metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stoull(line.substr(name.size() + 1));
  }
  return 0;
}

json chat_body(int i, bool stream, uint64_t max_tokens) {
  return {{"messages", {{{"role", "user"}, {"content", "Tell me story number " + std::to_string(i)}}}},
          {"max_tokens", max_tokens},
          {"temperature", 0.8},
          {"stream", stream}};
}

// One client connection's loop of mixed requests.
void client_loop(const Options& o, Stats& st, int id, Clock::time_point end) {
  httplib::Client c("127.0.0.1", static_cast<int>(o.port));
  c.set_read_timeout(120, 0);
  for (int i = id; Clock::now() < end; i += 1) {
    const int kind = i % 10;
    const auto t0 = Clock::now();
    if (kind == 7) {
      // A stream abandoned after its first event.
      const int fd = connect_to(static_cast<int>(o.port));
      if (fd < 0) {
        std::lock_guard l(st.mutex);
        ++st.transport_errors;
        continue;
      }
      const std::string body = chat_body(i, true, o.max_tokens).dump();
      send_all(fd, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body);
      const std::string got = recv_some(fd, 60000);
      ::close(fd);
      std::lock_guard l(st.mutex);
      ++st.abandoned;
      continue;
    }
    std::string what;
    auto send = [&]() -> httplib::Result {
      if (kind == 9) {
        what = "oversized";
        return c.Post("/v1/completions", std::string((1u << 20) + 1, ' '), "application/json");
      }
      if (kind == 8) {
        what = "completion";
        return c.Post("/v1/completions",
                      json({{"prompt", "Once upon a time " + std::to_string(i)},
                            {"max_tokens", o.max_tokens}})
                          .dump(),
                      "application/json");
      }
      const bool stream = kind >= 4;
      what = stream ? "chat-stream" : "chat";
      return c.Post("/v1/chat/completions", chat_body(i, stream, o.max_tokens).dump(),
                    "application/json");
    };
    httplib::Result res = send();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!res) {
      std::lock_guard l(st.mutex);
      ++st.transport_errors;
      if (st.problems.size() < 20) {
        st.problems.push_back(what + ": transport error " + httplib::to_string(res.error()));
      }
      continue;
    }
    st.count(what, res->status);
    if (what != "oversized" && res->status == 200) {
      std::lock_guard l(st.mutex);
      st.completion_ms.push_back(ms);
    }
    if (what == "chat-stream" && res->status == 200 &&
        res->body.find("data: [DONE]") == std::string::npos) {
      st.problem("stream without [DONE]");
    }
  }
}

// Sends a header line every 2 s until the server cuts it off, then reconnects.
void slow_loop(const Options& o, Stats& st, Clock::time_point end) {
  while (Clock::now() < end) {
    const int fd = connect_to(static_cast<int>(o.port));
    if (fd < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    {
      std::lock_guard l(st.mutex);
      ++st.slow_connects;
    }
    bool open = send_all(fd, "POST /v1/chat/completions HTTP/1.1\r\n");
    while (open && Clock::now() < end) {
      const std::string got = recv_some(fd, 2000);
      if (!got.empty()) {
        std::lock_guard l(st.mutex);
        ++st.slow_cutoffs;
        ++st.status["slow"][std::atoi(got.substr(9, 3).c_str())];
        break;
      }
      open = send_all(fd, "X-Slow: 1\r\n");
    }
    ::close(fd);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  mlxcel::bench::ArgReader args(
      argc, argv,
      "usage: bench_serve_soak [--mlxcel PATH] [--model DIR] [--duration S] [--clients N] "
      "[--slow N] [--parallel N] [--ctx-size N] [--port P] [--max-tokens N]");
  while (args.next()) {
    const std::string f = args.flag();
    if (f == "--mlxcel") o.mlxcel = args.value();
    else if (f == "--model") o.model = args.value();
    else if (f == "--duration") o.duration = args.count(1, 86400);
    else if (f == "--clients") o.clients = args.count(0, 200);
    else if (f == "--slow") o.slow = args.count(0, 200);
    else if (f == "--parallel") o.parallel = args.count(1, 64);
    else if (f == "--ctx-size") o.ctx = args.count(16, 1u << 20);
    else if (f == "--port") o.port = args.count(1, 65535);
    else if (f == "--max-tokens") o.max_tokens = args.count(1, 1u << 20);
    else args.fail("unknown flag " + f);
  }

  const std::string log = "/tmp/mlxcel-soak-" + std::to_string(getpid()) + ".log";
  const pid_t pid = fork();
  if (pid == 0) {
    std::freopen(log.c_str(), "w", stderr);
    std::vector<std::string> a = {o.mlxcel, "serve"};
    if (!o.model.empty()) a.push_back(o.model);
    for (const std::string& s : {std::string("--port"), std::to_string(o.port),
                                 std::string("--parallel"), std::to_string(o.parallel),
                                 std::string("--ctx-size"), std::to_string(o.ctx),
                                 std::string("--queue-size"), std::to_string(2 * o.clients)}) {
      a.push_back(s);
    }
    std::vector<char*> argv2;
    for (auto& s : a) argv2.push_back(s.data());
    argv2.push_back(nullptr);
    execv(argv2[0], argv2.data());
    _exit(127);
  }
  httplib::Client probe("127.0.0.1", static_cast<int>(o.port));
  probe.set_read_timeout(5, 0);
  bool up = false;
  for (int i = 0; i < 600 && !up; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto r = probe.Get("/health");
    up = r && r->status == 200;
    int status = 0;
    if (!up && waitpid(pid, &status, WNOHANG) == pid) break;
  }
  if (!up) {
    std::fprintf(stderr, "bench_serve_soak: the server did not start (log: %s)\n", log.c_str());
    kill(pid, SIGKILL);
    return 1;
  }
  const std::string m0 = probe.Get("/metrics")->body;
  const uint64_t rss_before = rss_of(pid, "VmRSS:");
  const uint64_t active_before = metric(m0, "mlxcel_memory_active_bytes");
  const uint64_t estimate = metric(m0, "mlxcel_memory_estimate_bytes");

  Stats st;
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(o.duration);
  std::atomic<bool> done{false};
  uint64_t rss_max = rss_before, active_max = active_before;
  std::thread sampler([&] {
    httplib::Client c("127.0.0.1", static_cast<int>(o.port));
    while (!done) {
      rss_max = std::max(rss_max, rss_of(pid, "VmRSS:"));
      if (auto r = c.Get("/metrics")) {
        active_max = std::max(active_max, metric(r->body, "mlxcel_memory_active_bytes"));
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });
  std::thread prober([&] {
    httplib::Client c("127.0.0.1", static_cast<int>(o.port));
    c.set_read_timeout(10, 0);
    while (Clock::now() < end) {
      const auto t0 = Clock::now();
      auto r = c.Get("/health");
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      st.count("health", r ? r->status : 0);
      {
        std::lock_guard l(st.mutex);
        st.health_ms.push_back(ms);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::vector<std::thread> threads;
  for (uint64_t i = 0; i < o.slow; ++i) threads.emplace_back([&] { slow_loop(o, st, end); });
  for (uint64_t i = 0; i < o.clients; ++i) {
    threads.emplace_back([&, i] { client_loop(o, st, static_cast<int>(i), end); });
  }
  for (auto& t : threads) t.join();
  prober.join();
  std::this_thread::sleep_for(std::chrono::seconds(3));  // let the last connections close
  done = true;
  sampler.join();
  const std::string m1 = probe.Get("/metrics")->body;
  const uint64_t rss_after = rss_of(pid, "VmRSS:");
  const uint64_t hwm = rss_of(pid, "VmHWM:");
  const uint64_t active_after = metric(m1, "mlxcel_memory_active_bytes");
  kill(pid, SIGTERM);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  const bool clean_exit = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;

  uint64_t total = 0, unintended_5xx = 0;
  std::printf("soak: %llu s, %llu clients, %llu slow clients, --parallel %llu, --ctx-size %llu\n",
              static_cast<unsigned long long>(o.duration),
              static_cast<unsigned long long>(o.clients), static_cast<unsigned long long>(o.slow),
              static_cast<unsigned long long>(o.parallel), static_cast<unsigned long long>(o.ctx));
  std::printf("%-12s %s\n", "kind", "status: count");
  for (const auto& [kind, by] : st.status) {
    std::printf("%-12s", kind.c_str());
    for (const auto& [code, n] : by) {
      std::printf(" %d: %llu", code, static_cast<unsigned long long>(n));
      total += n;
      // 503 with Retry-After is the intended answer of a full queue; anything else 5xx is not.
      if (code >= 500 && code != 503) unintended_5xx += n;
    }
    std::printf("\n");
  }
  std::printf("requests %llu, abandoned streams %llu, transport errors %llu, slow connects %llu, "
              "slow cut-offs %llu\n",
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(st.abandoned),
              static_cast<unsigned long long>(st.transport_errors),
              static_cast<unsigned long long>(st.slow_connects),
              static_cast<unsigned long long>(st.slow_cutoffs));
  std::printf("/health ms: p50 %.1f p99 %.1f max %.1f (%zu probes)\n",
              percentile(st.health_ms, 0.5), percentile(st.health_ms, 0.99),
              percentile(st.health_ms, 1.0), st.health_ms.size());
  std::printf("completions ms: p50 %.1f p99 %.1f (%zu answered)\n",
              percentile(st.completion_ms, 0.5), percentile(st.completion_ms, 0.99),
              st.completion_ms.size());
  const double mib = 1024.0 * 1024.0;
  std::printf("RSS MiB: before %.1f, max during %.1f, after %.1f, VmHWM %.1f; plan total %.1f\n",
              rss_before / mib, rss_max / mib, rss_after / mib, hwm / mib, estimate / mib);
  std::printf("allocator active MiB: before %.3f, max during %.3f, after %.3f\n",
              active_before / mib, active_max / mib, active_after / mib);
  for (const auto& p : st.problems) std::printf("problem: %s\n", p.c_str());
  std::printf("checks: server exit %s; unintended 5xx %llu; /health p99 %s 100 ms; RSS after %s "
              "plan total; active after %s before\n",
              clean_exit ? "clean" : "NOT clean", static_cast<unsigned long long>(unintended_5xx),
              percentile(st.health_ms, 0.99) < 100 ? "<" : ">=",
              rss_after <= estimate ? "<=" : ">", active_after == active_before ? "==" : "!=");
  json j = {{"duration_s", o.duration},       {"requests", total},
            {"unintended_5xx", unintended_5xx}, {"health_p99_ms", percentile(st.health_ms, 0.99)},
            {"rss_before", rss_before},        {"rss_max", rss_max},
            {"rss_after", rss_after},          {"vmhwm", hwm},
            {"estimate", estimate},            {"active_before", active_before},
            {"active_after", active_after},    {"clean_exit", clean_exit}};
  std::printf("%s\n", j.dump().c_str());
  std::remove(log.c_str());
  return 0;
}
