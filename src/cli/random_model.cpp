// `mlxcel make-random-model`: a random-weight model from a config.json, for tests and benchmarks.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "arch/registry.h"
#include "cli/commands.h"
#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"
#include "mlxcel/size.h"
#include "runtime/random_model.h"

namespace mlxcel::cli {
namespace {

namespace fs = std::filesystem;

struct RandomOptions {
  std::string config;
  std::string out;
  std::string dtype = "bf16";
  std::string quantize;
  uint32_t group_size = 64;
  uint64_t seed = 0;
  std::optional<uint64_t> layers, hidden, intermediate, heads, kv_heads, head_dim, vocab;
};

int run_random(const RandomOptions& o) {
  if (o.out.empty()) throw UsageError("random-model", "an output directory is required (--out)");
  // The same reader as inspect's: size-capped, depth-checked, errors naming the file and field.
  nlohmann::json config = read_config_json(o.config);
  runtime::RandomModelOptions r;
  if (o.dtype == "f32" || o.dtype == "float32") r.dtype = DType::F32;
  else if (o.dtype == "f16" || o.dtype == "float16") r.dtype = DType::F16;
  else if (o.dtype == "bf16" || o.dtype == "bfloat16") r.dtype = DType::BF16;
  else throw UsageError("random-model", fmt::format("dtype must be f32, f16 or bf16 (--dtype, {})", o.dtype));
  if (o.quantize == "4bit") r.bits = 4;
  else if (o.quantize == "8bit") r.bits = 8;
  else if (!o.quantize.empty())
    throw UsageError("random-model", fmt::format("unknown quantization (--quantize, {}; use 4bit or 8bit)", o.quantize));
  r.group_size = o.group_size;
  r.seed = o.seed;
  r.layers = o.layers;
  r.hidden = o.hidden;
  r.intermediate = o.intermediate;
  r.heads = o.heads;
  r.kv_heads = o.kv_heads;
  r.head_dim = o.head_dim;
  r.vocab = o.vocab;
  // Plan before making a value: a config whose overrides did not do what the user meant (a 27B
  // model instead of 4 layers) is refused here, not by the disk or the OOM killer.
  const runtime::RandomModelPlan plan = runtime::plan_random_model(config, r);
  const AvailableMemory memory = probe_available_memory();
  std::error_code ec;
  fs::path probe = fs::absolute(o.out, ec);
  while (!probe.empty() && !fs::exists(probe, ec) && probe != probe.parent_path()) probe = probe.parent_path();
  const fs::space_info disk = fs::space(probe, ec);
  const uint64_t disk_free = ec ? UINT64_MAX : disk.available;
  fmt::print(stderr, "[plan] make-random-model writes {} of tensors and holds {} while writing; available: memory {} "
                     "({}), disk {} ({})\n",
             format_bytes(plan.file_bytes), format_bytes(plan.memory_bytes), format_bytes(memory.bytes), memory.source,
             ec ? std::string("unknown") : format_bytes(disk_free), probe.string());
  if (plan.memory_bytes > memory.bytes || plan.file_bytes > disk_free) {
    fmt::print(stderr, "error: [plan] make-random-model refused: the model does not fit the {} (check that "
                       "--layers/--hidden/... changed the config as meant; nested text_config settings are "
                       "overridden there)\n",
               plan.memory_bytes > memory.bytes ? "available memory" : "free disk");
    return static_cast<int>(ExitCode::RefusedByPreflight);
  }
  runtime::make_random_model(config, r, o.out);
  fmt::print(stderr, "wrote a random {}{} model from {} to {}\n", o.dtype, o.quantize.empty() ? "" : " " + o.quantize,
             o.config, o.out);
  return 0;
}

}  // namespace

void add_random_model_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<RandomOptions>();
  CLI::App* cmd = app.add_subcommand("make-random-model",
                                     "Write a random-weight safetensors model for a config.json (tests, benchmarks)");
  cmd->add_option("CONFIG", o->config, "config.json of a supported architecture")->required();
  cmd->add_option("--out", o->out, "output directory")->required();
  cmd->add_option("--dtype", o->dtype, "f32, f16 or bf16 (default bf16); also the dtype of quantization scales");
  cmd->add_option("--quantize", o->quantize, "4bit or 8bit (MLX affine)");
  cmd->add_option("--group-size", o->group_size, "quantization group size: 32, 64 or 128 (default 64)");
  cmd->add_option("--seed", o->seed, "random seed (default 0)");
  cmd->add_option("--layers", o->layers, "override num_hidden_layers");
  cmd->add_option("--hidden", o->hidden, "override hidden_size");
  cmd->add_option("--intermediate", o->intermediate, "override intermediate_size");
  cmd->add_option("--heads", o->heads, "override num_attention_heads");
  cmd->add_option("--kv-heads", o->kv_heads, "override num_key_value_heads");
  cmd->add_option("--head-dim", o->head_dim, "override head_dim (default: hidden / heads when either is overridden)");
  cmd->add_option("--vocab", o->vocab, "override vocab_size (at least 258)");
  cmd->callback([o, &action] { action = [o] { return run_random(*o); }; });
}

}  // namespace mlxcel::cli
