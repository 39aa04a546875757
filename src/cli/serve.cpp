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
#include "estimate/advisor.h"
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
  std::string max_body = "8MiB";
  std::optional<std::string> threads;
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
  std::string prefill_chunk = "512";
  bool force = false;
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

  const std::string model =
      o.model.empty() ? std::string(MLXCEL_SOURCE_DIR) + "/models/stories260K" : o.model;
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

  ModelSpec spec = load_model_spec(model);
  RunConfig run = default_run_config(spec);
  run.sequences = parse_count_option(o.parallel, "--parallel", 1u << 16);
  if (o.ctx_size) run.context = parse_count_option(*o.ctx_size, "--ctx-size");
  if (o.threads) run.threads = static_cast<uint32_t>(parse_count_option(*o.threads, "--threads", 4096));
  run.cache_type_k = parse_cache_type_option(o.cache_type_k, "--cache-type-k");
  run.cache_type_v = parse_cache_type_option(o.cache_type_v, "--cache-type-v");
  run.prefill_chunk = parse_count_option(o.prefill_chunk, "--prefill-chunk");

  // Preflight before loading or binding: the KV pool for every sequence is part of the plan.
  // (Replaced by the shared preflight of issue 4 once it exists.)
  const MemoryPlan plan = plan_memory(spec, run);
  const AvailableMemory available = probe_available_memory();
  const Verdict verdict = judge(plan, available);
  if (!verdict.fits) {
    const std::string message = fmt::format(
        "[preflight] serving {} sequences x {} tokens needs {} (weights {}, KV {}, workspace {}, "
        "overhead {}) but {} is available ({})",
        run.sequences, run.context, format_bytes(plan.total), format_bytes(plan.weights.total),
        format_bytes(plan.kv.total), format_bytes(plan.workspace.total),
        format_bytes(plan.overhead.total), format_bytes(verdict.available), available.source);
    if (!o.force) {
      fmt::print(stderr,
                 "error: {}; lower --parallel or --ctx-size, use a smaller --cache-type-k/v or a "
                 "quantized model, or pass --force\n",
                 message);
      return static_cast<int>(ExitCode::RefusedByPreflight);
    }
    fmt::print(stderr, "warning: {}; continuing because of --force\n", message);
  }


  server::RuntimeEngine engine(spec, run, model_id_for(model), /*progress=*/true);
  server::HttpServer server(engine, so);
  const int port = server.bind();
  server_ptr = &server;
  if (stop_requested) server.stop();
  fmt::print(stderr,
             "mlxcel serve: {} on http://{}:{} ({} sequences x {} tokens; KV cache {}, memory "
             "active {} of planned {}; chat template: {})\n",
             engine.model_id(), o.host, port, run.sequences, run.context,
             format_bytes(plan.kv.total), format_bytes(active_memory()),
             format_bytes(plan.planned), engine.chat_template().origin);
  server.serve();
  watcher.reset();  // joined before the server goes, so a late signal never sees a dead server
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
  cmd->add_option("--port", o->port, "TCP port (default 8080)");
  cmd->add_option("--parallel", o->parallel,
                  "sequences decoded together; the KV cache holds all of them (default 4)");
  cmd->add_option("--ctx-size,-c", o->ctx_size,
                  "tokens per sequence, prompt + completion (default: min(max_position_embeddings, "
                  "4096))");
  cmd->add_option("--api-key", o->api_key,
                  "require \"Authorization: Bearer KEY\" on every route but /health");
  cmd->add_option("--queue-size", o->queue_size,
                  "requests that may wait for a free sequence before 503 (default 16)");
  cmd->add_option("--max-body", o->max_body, "request body limit, e.g. 8MiB (default 8MiB)");
  cmd->add_option("--threads,-t", o->threads, "threads (default: online CPUs)");
  cmd->add_option("--cache-type-k", o->cache_type_k, std::string("K cache type: ") + kCacheTypesHelp);
  cmd->add_option("--cache-type-v", o->cache_type_v, "V cache type (default f16)");
  cmd->add_option("--prefill-chunk", o->prefill_chunk,
                  "prompt tokens per forward pass (default 512)");
  cmd->add_flag("--force,--no-memory-check", o->force,
                "serve even when the plan exceeds available memory");
  cmd->callback([o, &action] { action = [o] { return run_serve(*o); }; });
}

}  // namespace mlxcel::cli
