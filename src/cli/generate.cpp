// `mlxcel generate`: load a model as its memory plan says and stream a completion of a prompt.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "arch/registry.h"
#include "cli/commands.h"
#include "estimate/advisor.h"
#include "mlxcel/errors.h"
#include "mlxcel/memory.h"
#include "mlxcel/size.h"
#include "runtime/generate.h"
#include "runtime/model.h"
#include "tokenizer/tokenizer.h"

namespace mlxcel::cli {
namespace {

struct GenerateCliOptions {
  std::string model;
  std::string prompt;
  uint64_t max_tokens = 256;
  float temp = 0.0f;
  uint32_t top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repeat_penalty = 1.0f;
  uint32_t repeat_last_n = 64;
  uint64_t seed = 0;
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
  std::optional<uint32_t> threads;
  std::optional<uint64_t> ctx_size;
  uint64_t prefill_chunk = 512;
  bool no_memory_check = false;
  bool no_echo = false;
};

KvCacheType cache_type(const std::string& s, const char* option) {
  auto t = kv_cache_type_from_name(s);
  if (!t) throw UsageError("generate", fmt::format("unknown KV cache type ({}, {})", option, s));
  return *t;
}

int run_generate(const GenerateCliOptions& o) {
  const std::string model = o.model.empty() ? std::string(MLXCEL_SOURCE_DIR) + "/models/stories260K" : o.model;
  runtime::SamplerConfig sc;
  sc.temperature = o.temp;
  sc.top_k = o.top_k;
  sc.top_p = o.top_p;
  sc.min_p = o.min_p;
  sc.repeat_penalty = o.repeat_penalty;
  sc.repeat_last_n = o.repeat_last_n;
  sc.seed = o.seed;
  runtime::validate_sampler_config(sc);
  const KvCacheType k = cache_type(o.cache_type_k, "--cache-type-k");
  const KvCacheType v = cache_type(o.cache_type_v, "--cache-type-v");
  if (o.prefill_chunk == 0) throw UsageError("generate", "prefill chunk must be positive (--prefill-chunk, 0)");
  if (o.threads && *o.threads == 0) throw UsageError("generate", "threads must be positive (--threads, 0)");
  if (o.ctx_size && *o.ctx_size == 0) throw UsageError("generate", "context must be positive (--ctx-size, 0)");

  ModelSpec spec = load_model_spec(model);
  RunConfig run = default_run_config(spec);
  if (o.ctx_size) run.context = *o.ctx_size;
  if (o.threads) run.threads = *o.threads;
  run.cache_type_k = k;
  run.cache_type_v = v;
  run.prefill_chunk = o.prefill_chunk;
  run.sequences = 1;

  const MemoryPlan plan = plan_memory(spec, run);
  const Verdict verdict = judge(plan, probe_available_memory());
  if (!verdict.fits && !o.no_memory_check) {
    fmt::print(stderr,
               "error: [preflight] this run needs {} (weights {}, KV {}, workspace {}, overhead {}) but {} is "
               "available; lower --ctx-size, use a quantized model or a smaller KV cache type, or pass "
               "--no-memory-check\n",
               format_bytes(plan.total), format_bytes(plan.weights.total), format_bytes(plan.kv.total),
               format_bytes(plan.workspace.total), format_bytes(plan.overhead.total), format_bytes(verdict.available));
    return static_cast<int>(ExitCode::RefusedByPreflight);
  }

  Tokenizer tok = Tokenizer::from_path(spec.root);
  std::vector<int32_t> prompt = tok.encode(o.prompt);
  if (prompt.empty()) {
    auto bos = tok.bos_id();
    if (!bos) throw UsageError("generate", "empty prompt and the tokenizer has no BOS token (--prompt)");
    prompt.push_back(*bos);
  }

  runtime::LoadOptions lo;
  lo.run = run;
  std::unique_ptr<runtime::Model> m = runtime::Model::load(spec, lo);

  if (!o.no_echo) {
    fmt::print("{}", o.prompt);
    std::fflush(stdout);
  }
  runtime::GenerateOptions go;
  go.sampler = sc;
  go.max_tokens = o.max_tokens;
  runtime::GenerateResult r = runtime::generate(*m, tok, prompt, go, [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  fmt::print("\n");
  std::fflush(stdout);

  const ProcessMemory pm = process_memory();
  const double pps = r.prompt_seconds > 0 ? static_cast<double>(r.prompt_tokens) / r.prompt_seconds : 0;
  const double dps = r.decode_seconds > 0 ? static_cast<double>(r.decode_steps) / r.decode_seconds : 0;
  fmt::print(stderr, "\nprompt: {} tokens in {:.3f} s, {:.1f} tokens/s\n", r.prompt_tokens, r.prompt_seconds, pps);
  fmt::print(stderr, "decode: {} tokens ({} forward passes) in {:.3f} s, {:.1f} tokens/s{}\n", r.tokens.size(),
             r.decode_steps, r.decode_seconds, dps, r.stopped_at_eos ? " (stopped at end of sequence)" : "");
  fmt::print(stderr, "memory: active {}, peak {}, RSS high-water {} (plan: {} allocated exactly, {} total estimate)\n",
             format_bytes(active_memory()), format_bytes(peak_memory()), format_bytes(pm.hwm),
             format_bytes(plan.planned), format_bytes(plan.total));
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<GenerateCliOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt (default model: models/stories260K)");
  cmd->add_option("MODEL", o->model, "model directory, .safetensors file or HF repo id (default: models/stories260K)");
  cmd->add_option("--prompt,-p", o->prompt, "prompt text (empty: start from BOS)");
  cmd->add_option("--max-tokens,-n", o->max_tokens, "tokens to generate at most (default 256)");
  cmd->add_option("--temp", o->temp, "sampling temperature; 0 = greedy (default 0)");
  cmd->add_option("--top-k", o->top_k, "keep the k most likely tokens; 0 = off (default 0)");
  cmd->add_option("--top-p", o->top_p, "nucleus sampling mass in (0, 1]; 1 = off (default 1)");
  cmd->add_option("--min-p", o->min_p, "drop tokens below min-p x the top probability; 0 = off (default 0)");
  cmd->add_option("--repeat-penalty", o->repeat_penalty, "penalty for repeated tokens; 1 = off (default 1)");
  cmd->add_option("--repeat-last-n", o->repeat_last_n, "tokens the repeat penalty looks back (default 64)");
  cmd->add_option("--seed", o->seed, "random seed for sampling (default 0)");
  cmd->add_option("--cache-type-k", o->cache_type_k, "K cache type: f32, f16, bf16, q8_0, q4_0, q8, q4 (default f16)");
  cmd->add_option("--cache-type-v", o->cache_type_v, "V cache type (default f16)");
  cmd->add_option("--threads,-t", o->threads, "threads (default: online CPUs)");
  cmd->add_option("--ctx-size,-c", o->ctx_size, "context tokens (default: min(max_position_embeddings, 4096))");
  cmd->add_option("--prefill-chunk", o->prefill_chunk, "prompt tokens per forward pass (default 512)");
  cmd->add_flag("--no-memory-check,--force", o->no_memory_check, "run even when the plan exceeds available memory");
  cmd->add_flag("--no-echo", o->no_echo, "do not print the prompt before the completion");
  cmd->callback([o, &action] { action = [o] { return run_generate(*o); }; });
}

}  // namespace mlxcel::cli
