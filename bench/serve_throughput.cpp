// Aggregate decode throughput of `mlxcel serve` at 1, 2, 4, 8 parallel sequences on a
// Llama-3.2-1B-shaped random model: for each N the server is started with N sequence slots and N
// clients send greedy completions at once over loopback HTTP. Each N runs twice, with a short and
// a long max_tokens; the difference of the wall times is the decode of the extra tokens alone
// (prompt prefill, HTTP and scheduling costs cancel), so
//   aggregate decode tok/s = N x (long - short) / (T_long - T_short).
// Prints a table and one JSON line per N; passes or fails nothing.
//
//   bench_serve_throughput [--threads N] [--parallel 1,2,4,8] [--prompt N] [--short N] [--long N]
//                          [--format bf16|q8|q4] [--config PATH] [--dir DIR]
#include <httplib.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "arch/registry.h"
#include "bench_args.h"
#include "kernels/cpu/kernels.h"
#include "mlxcel/memory.h"
#include "mlxcel/size.h"
#include "runtime/random_model.h"
#include "server/http_server.h"
#include "server/runtime_engine.h"

using namespace mlxcel;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Args {
  uint32_t threads = 2;
  std::vector<uint64_t> parallel = {1, 2, 4, 8};
  uint64_t prompt = 32;
  uint64_t short_tokens = 8;
  uint64_t long_tokens = 40;
  std::string format = "bf16";
  std::string config = std::string(MLXCEL_SOURCE_DIR) +
                       "/../shared/testdata/configs/meta-llama__Llama-3.2-1B-Instruct/config.json";
  std::string dir;
};

Args parse(int argc, char** argv) {
  Args a;
  bench::ArgReader r(argc, argv,
                     "usage: bench_serve_throughput [--threads N] [--parallel 1,2,4,8] [--prompt N] "
                     "[--short N] [--long N] [--format bf16|q8|q4] [--config PATH] [--dir DIR]");
  while (r.next()) {
    const std::string& k = r.flag();
    if (k == "--threads") a.threads = static_cast<uint32_t>(r.count(1, 4096));
    else if (k == "--parallel") a.parallel = r.counts(1, 1024);
    else if (k == "--prompt") a.prompt = r.count(1, 1u << 20);
    else if (k == "--short") a.short_tokens = r.count(1, 1u << 20);
    else if (k == "--long") a.long_tokens = r.count(1, 1u << 20);
    else if (k == "--format") {
      a.format = r.value();
      if (a.format != "bf16" && a.format != "q8" && a.format != "q4") r.fail("--format is bf16, q8 or q4");
    }
    else if (k == "--config") a.config = r.value();
    else if (k == "--dir") a.dir = r.value();
    else r.fail();
  }
  if (a.long_tokens <= a.short_tokens) r.fail("--long must be more than --short");
  return a;
}

// N clients post at the same moment; returns the wall time until the last answer and checks that
// every request produced exactly `max_tokens` tokens (a random model could sample EOS).
double round_trip(int port, uint64_t n, uint64_t prompt_len, uint64_t max_tokens, bool& exact) {
  std::barrier start(static_cast<std::ptrdiff_t>(n + 1));
  std::vector<uint64_t> produced(n, 0);
  std::vector<std::thread> clients;
  for (uint64_t c = 0; c < n; ++c) {
    clients.emplace_back([&, c] {
      std::vector<int32_t> ids(prompt_len);
      for (uint64_t i = 0; i < prompt_len; ++i) ids[i] = static_cast<int32_t>(3 + (i * 7919 + c * 104729) % 250);
      const json body = {{"prompt", ids}, {"max_tokens", max_tokens}, {"temperature", 0}};
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(3600, 0);
      start.arrive_and_wait();
      auto res = client.Post("/v1/completions", body.dump(), "application/json");
      if (res && res->status == 200) {
        produced[c] = json::parse(res->body)["usage"]["completion_tokens"].get<uint64_t>();
      } else {
        std::fprintf(stderr, "request failed: %s\n", res ? res->body.c_str() : "transport error");
      }
    });
  }
  const double t0 = now();
  start.arrive_and_wait();
  for (auto& t : clients) t.join();
  const double dt = now() - t0;
  exact = std::all_of(produced.begin(), produced.end(), [&](uint64_t p) { return p == max_tokens; });
  return dt;
}

struct Row {
  uint64_t parallel = 0;
  double t_short = 0, t_long = 0, aggregate = 0, per_sequence = 0;
  uint64_t kv_bytes = 0;
  bool exact = true;
};

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const json config = json::parse(std::ifstream(args.config));
  // Same generator, seed and directory layout as bench_decode_prefill, so the two share the model.
  const std::string base = args.dir.empty()
                               ? (fs::temp_directory_path() / "mlxcel-bench-decode-prefill").string()
                               : args.dir;
  const std::string dir = base + "/" + args.format;
  runtime::RandomModelOptions o;
  o.dtype = DType::BF16;
  o.seed = 1;
  if (args.format == "q8") o.bits = 8;
  else if (args.format == "q4") o.bits = 4;
  if (!fs::exists(dir + "/model.safetensors")) runtime::make_random_model(config, o, dir);
  const ModelSpec spec = load_model_spec(dir);

  std::printf("# serve throughput: %s (%s), %u threads, prompt %llu, max_tokens %llu and %llu, ISA %s\n",
              args.config.c_str(), args.format.c_str(), args.threads,
              static_cast<unsigned long long>(args.prompt),
              static_cast<unsigned long long>(args.short_tokens),
              static_cast<unsigned long long>(args.long_tokens),
              std::string(kernels::isa_name(kernels::active_isa())).c_str());

  std::vector<Row> rows;
  for (uint64_t n : args.parallel) {
    RunConfig run = default_run_config(spec);
    run.context = args.prompt + args.long_tokens + 8;
    run.sequences = n;
    run.threads = args.threads;
    run.prefill_chunk = args.prompt;
    const double t_load = now();
    runtime::LoadOptions lo;
    lo.run = run;
    lo.progress = false;
    server::RuntimeEngine engine(spec, lo, "bench");
    const double load_seconds = now() - t_load;
    server::ServerOptions so;
    so.port = 0;
    so.queue_size = static_cast<uint32_t>(n);
    server::HttpServer http(engine, so);
    const int port = http.bind();
    std::thread serving([&] { http.serve(); });

    bool exact_warm = true;
    round_trip(port, n, args.prompt, 2, exact_warm);  // warm-up: first touch of every page
    Row r;
    r.parallel = n;
    r.kv_bytes = engine.model().plan().kv.total;
    bool exact_short = true, exact_long = true;
    r.t_short = round_trip(port, n, args.prompt, args.short_tokens, exact_short);
    r.t_long = round_trip(port, n, args.prompt, args.long_tokens, exact_long);
    r.exact = exact_short && exact_long;
    const double extra = static_cast<double>(args.long_tokens - args.short_tokens);
    r.aggregate = static_cast<double>(n) * extra / (r.t_long - r.t_short);
    r.per_sequence = r.aggregate / static_cast<double>(n);
    rows.push_back(r);
    std::fprintf(stderr, "# N=%llu: loaded in %.2f s, short round %.2f s, long round %.2f s\n",
                 static_cast<unsigned long long>(n), load_seconds, r.t_short, r.t_long);
    http.stop();
    serving.join();
  }

  std::printf("\n| parallel | KV cache | short round s | long round s | aggregate decode tok/s | per sequence tok/s | speed-up vs 1 |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    std::printf("| %llu | %s | %.2f | %.2f | %.2f | %.2f | %.2fx%s |\n",
                static_cast<unsigned long long>(r.parallel), format_bytes(r.kv_bytes).c_str(),
                r.t_short, r.t_long, r.aggregate, r.per_sequence,
                r.aggregate / rows.front().aggregate, r.exact ? "" : " (EOS cut a request short)");
  }
  std::printf("\n");
  for (const Row& r : rows) {
    const json j = {{"bench", "serve_throughput"}, {"format", args.format},
                    {"threads", args.threads}, {"parallel", r.parallel},
                    {"prompt_tokens", args.prompt}, {"short_tokens", args.short_tokens},
                    {"long_tokens", args.long_tokens}, {"short_round_s", r.t_short},
                    {"long_round_s", r.t_long}, {"aggregate_decode_tokens_per_s", r.aggregate},
                    {"per_sequence_tokens_per_s", r.per_sequence}, {"exact_token_counts", r.exact},
                    {"kv_cache_bytes", r.kv_bytes}};
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;
}
