// `mlxcel serve`: an OpenAI-compatible HTTP server. The memory plan for --parallel sequences of
// --ctx-size tokens is checked against available memory before anything is loaded or bound; the
// KV cache for all sequences is allocated at start; SIGINT/SIGTERM stop it gracefully.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "arch/registry.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/preflight_cli.h"
#include "estimate/advisor.h"
#include "io/resources.h"
#include "mlxcel/errors.h"
#include "mlxcel/memory.h"
#include "mlxcel/size.h"
#include "server/http_server.h"
#include "server/runtime_engine.h"

namespace mlxcel::cli {
namespace {

struct ServeCliOptions {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string parallel = "4";
  std::optional<std::string> ctx_size;
  std::string api_key;
  std::string queue_size = "16";
  std::string max_body = "1MiB";
  std::string max_connections = "256";
  std::string header_timeout = "10";
  std::string body_timeout = "30";
  std::string keep_alive = "5";
  std::optional<std::string> threads;
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
  std::string prefill_chunk = "512";
  MemoryCliOptions memory;  // --force, --memory-budget, --memory-limit, --json-stats, ...
};

// What /v1/models calls the model: the directory or file name, or the repo id as given.
std::string model_id_for(const std::string& arg) {
  std::filesystem::path p(arg);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  if (std::filesystem::exists(p)) return p.filename().string();
  return arg;
}

// SIGINT/SIGTERM: the first asks for a graceful stop (a watcher thread notices within 100 ms and
// calls on_stop), a second exits at once. A handler, not sigwait, because threads started before
// serve (e.g. the kernels' pool) would otherwise receive the signal with its default action.
std::atomic<int> g_signals{0};
std::atomic<int> g_last_signal{0};

extern "C" void on_stop_signal(int sig) {
  g_last_signal = sig;
  if (g_signals.fetch_add(1) >= 1) _exit(128 + sig);  // async-signal-safe
}

class SignalWatcher {
 public:
  explicit SignalWatcher(std::function<void()> on_stop) {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    thread_ = std::thread([this, on_stop = std::move(on_stop)] {
      while (!done_) {
        if (g_signals.load() > 0) {
          fmt::print(stderr, "mlxcel serve: {} received, stopping (a second one exits at once)\n",
                     g_last_signal.load() == SIGINT ? "SIGINT" : "SIGTERM");
          on_stop();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  ~SignalWatcher() {
    done_ = true;
    thread_.join();
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

int run_serve(const ServeCliOptions& o) {
  // A signal during loading is remembered and honoured once the server exists.
  std::atomic<server::HttpServer*> server_ptr{nullptr};
  std::atomic<bool> stop_requested{false};
  std::optional<SignalWatcher> watcher;
  watcher.emplace([&] {
    stop_requested = true;
    if (auto* s = server_ptr.load()) s->stop();
  });

  const std::string model = o.model.empty() ? io::default_model_dir("serve") : o.model;
  if (o.port < 0 || o.port > 65535) {
    throw UsageError("serve", fmt::format("port out of range (--port, {})", o.port));
  }
  server::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.api_key = o.api_key;
  so.queue_size = static_cast<uint32_t>(parse_count_option(o.queue_size, "--queue-size", 1u << 20));
  so.max_body = parse_size(o.max_body, "--max-body");
  if (so.max_body == 0) throw UsageError("serve", "body limit must be positive (--max-body, 0)");
  so.max_connections =
      static_cast<uint32_t>(parse_count_option(o.max_connections, "--max-connections", 100000));
  so.header_timeout_seconds =
      static_cast<int>(parse_count_option(o.header_timeout, "--header-timeout", 3600));
  so.body_timeout_seconds =
      static_cast<int>(parse_count_option(o.body_timeout, "--body-timeout", 3600));
  so.keep_alive_seconds = static_cast<int>(parse_count_option(o.keep_alive, "--keep-alive", 3600));

  const MemorySettings memory = parse_memory_options(o.memory);

  // Headers only: no tensor data is read before the preflight has decided.
  ModelSpec spec = load_model_spec(model);
  RunConfig run = default_run_config(spec);
  run.sequences = parse_count_option(o.parallel, "--parallel", 1u << 16);
  ContextKnob knob;
  knob.origin = "default: min(max_position_embeddings, 4096)";
  if (o.ctx_size) {
    run.context = parse_count_option(*o.ctx_size, "--ctx-size");
    knob.origin = "--ctx-size";
  }
  if (o.threads) run.threads = static_cast<uint32_t>(parse_count_option(*o.threads, "--threads", 4096));
  run.cache_type_k = parse_cache_type_option(o.cache_type_k, "--cache-type-k");
  run.cache_type_v = parse_cache_type_option(o.cache_type_v, "--cache-type-v");
  run.prefill_chunk = parse_count_option(o.prefill_chunk, "--prefill-chunk");
  // Request bodies and their preparation are part of what serve holds: planned from the flags.
  run.server = ServerRequestLimits{so.max_body, so.bodies_in_flight, server::kPreparationThreads};

  // The shared preflight, before loading or binding: the KV cache of every sequence is part of
  // the plan, and the advice may lower --parallel as well as --ctx-size.
  PreflightRequest request;
  request.command = "serve";
  request.run = run;
  request.context = knob;
  request.sequences_flag = "--parallel";
  request.make_spec = spec_for_format_from_config(spec);
  const MemoryGate gate = memory_preflight(spec, request, memory, model);
  const MemoryPlan& plan = gate.preflight.plan;
  nlohmann::ordered_json stats = stats_document("serve", model, spec, gate, knob);
  if (gate.refused) {
    if (!memory.json_stats.empty()) write_json_stats(memory.json_stats, stats);
    return static_cast<int>(ExitCode::RefusedByPreflight);
  }

  runtime::LoadOptions lo;
  lo.run = plan.run;
  const uint64_t active_before = active_memory();
  uint64_t weights_active = active_before;
  lo.on_tensor_read = [&weights_active](const TensorSpec&) { weights_active = active_memory(); };
  server::RuntimeEngine engine(spec, lo, model_id_for(model));
  stats["after_load"] = validate_after_load(plan, active_before, weights_active,
                                            engine.model().unplanned_bytes());
  so.planned_bytes = plan.planned;
  so.estimate_bytes = plan.total;
  server::HttpServer server(engine, so);
  const int port = server.bind();
  server_ptr = &server;
  if (stop_requested) server.stop();
  fmt::print(stderr,
             "mlxcel serve: {} on http://{}:{} ({} sequences x {} tokens, KV cache {}; chat "
             "template: {})\n",
             engine.model_id(), o.host, port, plan.run.sequences, plan.run.context,
             format_bytes(plan.kv.total), engine.chat_template().origin);
  server.serve();
  watcher.reset();  // joined before the server goes, so a late signal never sees a dead server
  // Over the whole serving time: the plan against the allocator peak and the RSS high-water mark.
  stats["after_run"] = validate_after_run(plan);
  if (!memory.json_stats.empty()) write_json_stats(memory.json_stats, stats);
  fmt::print(stderr, "mlxcel serve: stopped\n");
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "OpenAI-compatible HTTP server (default model: models/stories260K)");
  cmd->add_option("MODEL", o->model,
                  "model directory, .safetensors file or HF repo id (default: models/stories260K)");
  cmd->add_option("--host", o->host, "address to bind (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", o->port, "TCP port (default 8080)")->type_name("PORT");
  cmd->add_option("--parallel", o->parallel,
                  "sequences decoded together; the KV cache holds all of them (default 4)")
      ->type_name("N");
  cmd->add_option("--ctx-size,-c", o->ctx_size,
                  "tokens per sequence, prompt + completion (default: min(max_position_embeddings, "
                  "4096))")
      ->type_name("N");
  cmd->add_option("--api-key", o->api_key,
                  "require \"Authorization: Bearer KEY\" on every route but /health")
      ->type_name("KEY");
  cmd->add_option("--queue-size", o->queue_size,
                  "requests that may wait for a free sequence before 503 (default 16)")
      ->type_name("N");
  cmd->add_option("--max-body", o->max_body, "request body limit, e.g. 4MiB (default 1MiB, about 250k tokens of English as JSON); the plan counts (--parallel + 2) bodies and their preparation")
      ->type_name("SIZE");
  cmd->add_option("--max-connections", o->max_connections,
                  "open client connections; one more is answered 503 (default 256)")
      ->type_name("N");
  cmd->add_option("--header-timeout", o->header_timeout,
                  "seconds a client has to send a request's whole header (default 10)")
      ->type_name("SECONDS");
  cmd->add_option("--body-timeout", o->body_timeout,
                  "seconds a client has to send a request's whole body (default 30)")
      ->type_name("SECONDS");
  cmd->add_option("--keep-alive", o->keep_alive,
                  "seconds an idle connection waits for its next request (default 5)")
      ->type_name("SECONDS");
  cmd->add_option("--threads,-t", o->threads, "threads (default: online CPUs)")->type_name("N");
  cmd->add_option("--cache-type-k", o->cache_type_k, std::string("K cache type: ") + kCacheTypesHelp);
  cmd->add_option("--cache-type-v", o->cache_type_v, "V cache type (default f16)");
  cmd->add_option("--prefill-chunk", o->prefill_chunk,
                  "prompt tokens per forward pass (default 512)")
      ->type_name("N");
  add_memory_options(cmd, o->memory);
  cmd->callback([o, &action] { action = [o] { return run_serve(*o); }; });
}

}  // namespace mlxcel::cli
