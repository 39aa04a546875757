// `mlxcel convert`: a llama2.c checkpoint to a Hugging Face directory, or MLX affine quantization
// of a safetensors model.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "mlxcel/errors.h"
#include "mlxcel/size.h"
#include "runtime/convert.h"

namespace mlxcel::cli {
namespace {

struct ConvertOptions {
  std::string llama2c;
  std::string tokenizer;
  std::string quantize;
  std::string group_size = "64";
  std::string max_shard_size = "5GB";
  std::string model;
  std::string out;
};

int run_convert(const ConvertOptions& o) {
  if (o.out.empty()) throw UsageError("convert", "an output directory is required (--out)");
  const bool l2c = !o.llama2c.empty();
  const bool quant = !o.quantize.empty();
  if (l2c == quant) {
    throw UsageError("convert", "give exactly one of --llama2c CHECKPOINT or --quantize 4bit|8bit MODEL");
  }
  if (l2c) {
    if (o.tokenizer.empty()) throw UsageError("convert", "--llama2c needs the tokenizer .bin (--tokenizer)");
    if (!o.model.empty()) throw UsageError("convert", fmt::format("unexpected MODEL with --llama2c ({})", o.model));
    runtime::convert_llama2c(o.llama2c, o.tokenizer, o.out);
    fmt::print(stderr, "converted {} -> {}\n", o.llama2c, o.out);
    return 0;
  }
  if (o.model.empty()) throw UsageError("convert", "--quantize needs the MODEL to quantize");
  runtime::QuantizeOptions q;
  if (o.quantize == "4bit") {
    q.bits = 4;
  } else if (o.quantize == "8bit") {
    q.bits = 8;
  } else {
    throw UsageError("convert", fmt::format("unknown quantization (--quantize, {}; use 4bit or 8bit)", o.quantize));
  }
  if (o.group_size == "32") q.group_size = 32;
  else if (o.group_size == "64") q.group_size = 64;
  else if (o.group_size == "128") q.group_size = 128;
  else throw UsageError("convert", fmt::format("group size must be 32, 64 or 128 (--group-size, {})", o.group_size));
  q.max_shard_bytes = parse_size(o.max_shard_size, "--max-shard-size");
  runtime::QuantizeReport r = runtime::quantize_model(o.model, o.out, q);
  fmt::print(stderr, "quantized {} tensors to {}-bit (group {}), kept {} in float: {} -> {} in {} shard(s) at {}\n",
             r.tensors_quantized, q.bits, q.group_size, r.tensors_kept, format_bytes(r.bytes_in),
             format_bytes(r.bytes_out), r.shards, o.out);
  return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert a llama2.c checkpoint to a Hugging Face directory, or quantize a model (MLX affine)");
  cmd->add_option("MODEL", opts->model, "safetensors model to quantize (with --quantize)");
  cmd->add_option("--llama2c", opts->llama2c, "llama2.c checkpoint (.bin) to convert");
  cmd->add_option("--tokenizer", opts->tokenizer, "llama2.c tokenizer (.bin) for --llama2c");
  cmd->add_option("--quantize", opts->quantize, "4bit or 8bit");
  cmd->add_option("--group-size", opts->group_size, "quantization group size: 32, 64 or 128 (default 64)");
  cmd->add_option("--max-shard-size", opts->max_shard_size, "largest shard, e.g. 5GB, 2GiB (default 5GB)");
  cmd->add_option("--out", opts->out, "output directory");
  cmd->callback([opts, &action] { action = [opts] { return run_convert(*opts); }; });
}

}  // namespace mlxcel::cli
