// `mlxcel generate`: load a model as its memory plan says and stream a completion of a prompt.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "arch/registry.h"
#include "core/checked.h"
#include "cli/commands.h"
#include "cli/generate_chat.h"
#include "cli/preflight_cli.h"
#include "estimate/advisor.h"
#include "io/resources.h"
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
  bool no_echo = false;
  bool ignore_eos = false;
  bool chat = false;         // --chat: the prompt is a user message in the model's chat template
  bool interactive = false;  // -i: more user turns from stdin, the KV cache kept between them
  std::string system;        // --system: the conversation's system message (implies --chat)
  bool recommend_quant = false;
  MemoryCliOptions memory;  // --memory-budget/-limit, --force, --estimate-memory, --json-stats, ...
};

KvCacheType cache_type(const std::string& s, const char* option) {
  auto t = kv_cache_type_from_name(s);
  if (!t) throw UsageError("generate", fmt::format("unknown KV cache type ({}, {})", option, s));
  return *t;
}

int run_generate(const GenerateCliOptions& o) {
  const std::string model = o.model.empty() ? io::default_model_dir("generate") : o.model;
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

  const MemorySettings memory = parse_memory_options(o.memory);
  const bool stats_on_stdout = memory.json_stats == "-";

  const bool chat = o.chat || o.interactive || !o.system.empty();
  if (chat && !o.interactive && o.prompt.empty())
    throw UsageError("generate", "--chat needs the user's message (--prompt), or -i to read turns from stdin");

  // Headers and tokenizer only: no tensor data is read before the preflight has decided.
  ModelSpec spec = load_model_spec(model);
  Tokenizer tok = Tokenizer::from_path(spec.root);
  std::optional<runtime::ChatSession> session;
  std::vector<int32_t> prompt;
  if (chat) {
    const std::filesystem::path root(spec.root);
    session.emplace(std::filesystem::is_directory(root) ? root : root.parent_path(), tok, o.system);
    if (session->uses_fallback()) {
      fmt::print(stderr, "warning: [chat] {} has no chat template (chat_template.jinja, tokenizer_config.json's "
                         "chat_template, chat_template.json); using the plain \"User: ... Assistant:\" format\n",
                 model);
    } else {
      fmt::print(stderr, "[chat] template: {}\n", session->template_origin());
    }
    if (!o.prompt.empty()) prompt = session->prompt_after_user(o.prompt);
  } else {
    prompt = tok.encode(o.prompt);
    if (prompt.empty()) {
      auto bos = tok.bos_id();
      if (!bos) throw UsageError("generate", "empty prompt and the tokenizer has no BOS token (--prompt)");
      prompt.push_back(*bos);
    }
  }

  RunConfig run = default_run_config(spec);
  ContextKnob knob;
  if (o.ctx_size) {
    run.context = *o.ctx_size;
    knob.origin = "--ctx-size";
  } else if (chat) {
    // The whole conversation shares one sequence: plan the context it may grow to.
    const uint64_t max_pos = spec.dims.max_position_embeddings;
    run.context = max_pos > 0 ? std::min<uint64_t>(max_pos, 4096) : 4096;
    knob.origin = "the conversation: min(max_position_embeddings, 4096); --ctx-size changes it";
  } else {
    // The context this run really uses: the prompt plus the tokens it may generate.
    auto c = checked_add(prompt.size(), o.max_tokens);
    if (!c) throw UsageError("generate", fmt::format("--max-tokens too large ({})", o.max_tokens));
    run.context = *c;
    knob.flag = "--max-tokens";
    knob.offset = prompt.size();
    knob.origin = fmt::format("prompt {} + --max-tokens {}", prompt.size(), o.max_tokens);
    const uint64_t max_pos = spec.dims.max_position_embeddings;
    if (max_pos > 0 && run.context > max_pos && prompt.size() <= max_pos) {
      run.context = max_pos;
      knob.origin += fmt::format(", capped at max_position_embeddings {}", max_pos);
    }
  }
  if (o.threads) run.threads = *o.threads;
  run.cache_type_k = k;
  run.cache_type_v = v;
  run.prefill_chunk = o.prefill_chunk;
  run.sequences = 1;

  PreflightRequest request;
  request.command = "generate";
  request.run = run;
  request.context = knob;
  request.make_spec = spec_for_format_from_config(spec);
  if (o.recommend_quant) {
    // The advisor's choice at this context; a KV cache type is applied here, a weight format
    // needs a converted model (the preflight below then refuses the weights as given).
    const AvailableMemory avail = available_for(memory);
    auto rec = recommend(spec, request.make_spec, run, memory.profile, avail.bytes);
    if (!rec) {
      fmt::print(stderr, "[recommend-quant] nothing fits {} tokens in {} ({}), whatever the weight format and KV "
                         "cache type\n", run.context, format_bytes(avail.bytes), avail.source);
    } else if (rec->weight_format == kAsIsFormat) {
      const std::string kv(kv_cache_type_name(rec->cache_type));
      fmt::print(stderr, "[recommend-quant] weights as given with a {} KV cache: total {} of {} available ({}){}\n",
                 kv, format_bytes(rec->total), format_bytes(avail.bytes), avail.source,
                 rec->cache_type == run.cache_type_k && rec->cache_type == run.cache_type_v
                     ? ""
                     : fmt::format("; using --cache-type-k {} --cache-type-v {}", kv, kv));
      request.run.cache_type_k = request.run.cache_type_v = rec->cache_type;
    } else {
      const std::string kv(kv_cache_type_name(rec->cache_type));
      fmt::print(stderr, "[recommend-quant] the weights as given do not fit {} tokens in {} ({}); {} weights with a "
                         "{} KV cache do (total {}): {}, then run generate on it with --cache-type-k {} "
                         "--cache-type-v {}\n",
                 run.context, format_bytes(avail.bytes), avail.source, rec->weight_format, kv, format_bytes(rec->total),
                 weight_format_instruction(spec, rec->weight_format), kv, kv);
    }
  }
  const MemoryGate gate = memory_preflight(spec, request, memory, model);
  const MemoryPlan& plan = gate.preflight.plan;
  nlohmann::ordered_json stats = stats_document("generate", model, spec, gate, knob);
  if (gate.refused) {
    if (!memory.json_stats.empty()) write_json_stats(memory.json_stats, stats);
    return static_cast<int>(ExitCode::RefusedByPreflight);
  }

  std::string text;
  try {
    runtime::LoadOptions lo;
    lo.run = plan.run;
    const uint64_t active_before = active_memory();
    uint64_t weights_active = active_before;
    lo.on_tensor_read = [&weights_active](const TensorSpec&) { weights_active = active_memory(); };
    std::unique_ptr<runtime::Model> m = runtime::Model::load(spec, lo);
    stats["after_load"] = validate_after_load(plan, active_before, weights_active, m->unplanned_bytes());

    runtime::GenerateOptions go;
    go.sampler = sc;
    go.max_tokens = o.max_tokens;
    go.stop_at_eos = !o.ignore_eos;
    if (chat) {
      const ChatTotals t = run_chat(*m, tok, *session, prompt, go, o.interactive, stats_on_stdout);
      const double pps = t.prompt_seconds > 0 ? static_cast<double>(t.prompt_tokens) / t.prompt_seconds : 0;
      fmt::print(stderr, "\nchat: {} turn{}, {} prompt tokens prefilled ({} reused from the KV cache) at {:.1f} "
                         "tokens/s, {} tokens generated{}\n",
                 t.turns.size(), t.turns.size() == 1 ? "" : "s", t.prompt_tokens, t.reused_tokens, pps,
                 t.generated_tokens, t.context_full ? "; stopped: the context is full" : "");
      stats["after_run"] = validate_after_run(plan);
      stats["generation"] = {{"prompt_tokens", t.prompt_tokens},
                             {"reused_tokens", t.reused_tokens},
                             {"generated_tokens", t.generated_tokens},
                             {"prompt_seconds", t.prompt_seconds},
                             {"decode_seconds", t.decode_seconds},
                             {"turns", t.turns}};
      if (!memory.json_stats.empty()) write_json_stats(memory.json_stats, stats);
      return 0;
    }
    if (!o.no_echo && !stats_on_stdout) {
      fmt::print("{}", o.prompt);
      std::fflush(stdout);
    }
    runtime::GenerateResult r = runtime::generate(*m, tok, prompt, go, [&](std::string_view piece) {
      text.append(piece);
      if (stats_on_stdout) return;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    });
    if (!stats_on_stdout) {
      fmt::print("\n");
      std::fflush(stdout);
    }

    const double pps = r.prompt_seconds > 0 ? static_cast<double>(r.prompt_tokens) / r.prompt_seconds : 0;
    const double dps = r.decode_seconds > 0 ? static_cast<double>(r.decode_steps) / r.decode_seconds : 0;
    fmt::print(stderr, "\nprompt: {} tokens in {:.3f} s, {:.1f} tokens/s\n", r.prompt_tokens, r.prompt_seconds, pps);
    const std::string why = r.stopped_at_eos       ? " (stopped at end of sequence)"
                            : r.stopped_at_context ? fmt::format(" (stopped: the context of {} tokens is full; "
                                                                 "raise --ctx-size for more)", m->context())
                                                   : std::string();
    if (r.decode_steps == 0) {
      // The prompt's logits give the first token; a rate over no decode pass means nothing.
      fmt::print(stderr, "decode: {} token{} from the prompt's logits, no decode pass{}\n", r.tokens.size(),
                 r.tokens.size() == 1 ? "" : "s", why);
    } else {
      fmt::print(stderr, "decode: {} tokens ({} forward passes) in {:.3f} s, {:.1f} tokens/s{}\n", r.tokens.size(),
                 r.decode_steps, r.decode_seconds, dps, why);
    }
    stats["after_run"] = validate_after_run(plan);
    stats["generation"] = {{"prompt_tokens", r.prompt_tokens},
                           {"generated_tokens", r.tokens.size()},
                           {"prompt_seconds", r.prompt_seconds},
                           {"decode_seconds", r.decode_seconds},
                           {"text", text}};
  } catch (const Error& e) {
    // The stats say how far the run got (a MemoryLimitExceeded shows the plan was wrong).
    if (!memory.json_stats.empty()) {
      stats["error"] = {{"type", dynamic_cast<const MemoryLimitExceeded*>(&e) ? "MemoryLimitExceeded" : "Error"},
                        {"message", e.what()}};
      write_json_stats(memory.json_stats, stats);
    }
    throw;
  }
  if (!memory.json_stats.empty()) write_json_stats(memory.json_stats, stats);
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
  cmd->add_option("--ctx-size,-c", o->ctx_size, "context tokens (default: prompt tokens + --max-tokens, at most max_position_embeddings)");
  cmd->add_option("--prefill-chunk", o->prefill_chunk, "prompt tokens per forward pass (default 512)");
  cmd->add_flag("--recommend-quant", o->recommend_quant,
                "pick the highest-precision weight format and KV cache type that fit this context; a KV cache type "
                "is applied, a weight format is printed as the convert command to run");
  add_memory_options(cmd, o->memory);
  cmd->add_flag("--no-echo", o->no_echo, "do not print the prompt before the completion");
  cmd->add_flag("--chat,--conversation", o->chat,
                "apply the model's chat template: --prompt is the user's message, the reply ends at the "
                "template's end-of-turn token");
  cmd->add_option("--system", o->system, "system message of the conversation (implies --chat)")->type_name("TEXT");
  cmd->add_flag("-i,--interactive", o->interactive,
                "chat turn by turn: each line of stdin is a user message (EOF or /exit ends), the KV "
                "cache is kept between turns (implies --chat)");
  cmd->add_flag("--ignore-eos", o->ignore_eos,
                "keep generating past end-of-sequence tokens (until --max-tokens or a full context)");
  cmd->callback([o, &action] { action = [o] { return run_generate(*o); }; });
}

}  // namespace mlxcel::cli
