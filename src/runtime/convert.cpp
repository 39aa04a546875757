#include "runtime/convert.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/checked.h"
#include "core/json_input.h"
#include "io/file_util.h"
#include "io/locator.h"
#include "io/safetensors.h"
#include "mlxcel/errors.h"
#include "runtime/llama2c.h"
#include "runtime/mlx_quant.h"
#include "runtime/pread_file.h"
#include "tokenizer/llama2c.h"
#include "tokenizer/tokenizer.h"

namespace mlxcel::runtime {
namespace fs = std::filesystem;

namespace {

constexpr const char* kComponent = "convert";

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw IoError(kComponent, fmt::format("cannot write ({})", path.string()));
  f << text;
  if (!f) throw IoError(kComponent, fmt::format("cannot write ({})", path.string()));
}

}  // namespace

void convert_llama2c(const std::string& checkpoint, const std::string& tokenizer_bin, const std::string& out_dir) {
  Llama2cCheckpoint ck = read_llama2c_checkpoint(checkpoint);
  // llama2.c reads exactly vocab_size pieces from the tokenizer; a model whose embedding and
  // tokenizer disagree would fail (or index out of range) only at generation time.
  const tok::Llama2cVocab vocab = tok::read_llama2c_vocab(tokenizer_bin);
  if (vocab.tokens.size() != ck.config.vocab_size) {
    throw FormatError(kComponent, fmt::format("tokenizer has {} tokens but the checkpoint's vocab_size is {} ({}, "
                                              "vocab_size, {})",
                                              vocab.tokens.size(), ck.config.vocab_size, tokenizer_bin,
                                              vocab.tokens.size()));
  }
  std::vector<HfTensor> tensors = llama2c_hf_tensors(ck);
  std::vector<SafetensorsTensorData> data;
  data.reserve(tensors.size());
  for (const HfTensor& t : tensors) data.push_back({t.name, DType::F32, t.shape, t.data.data()});
  // Everything is written into a staging directory that becomes out_dir only once the tokenizer
  // has been read and exported too: a bad tokenizer leaves no weights-only directory behind.
  io::StagedDir out(out_dir, kComponent);
  export_llama2c_tokenizer(tokenizer_bin, out.path());
  write_safetensors(out.file("model.safetensors"), data, {{"format", "pt"}});
  write_text(out.file("config.json"), llama2c_hf_config(ck.config).dump(2) + "\n");
  out.commit();
}

namespace {

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct OutTensor {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
  std::vector<uint8_t> data;
};

// Collects output tensors and writes a shard whenever the next tensor would pass the limit.
class ShardWriter {
 public:
  ShardWriter(fs::path dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}

  void add(OutTensor t) {
    if (!pending_.empty() && pending_bytes_ + t.data.size() > max_bytes_) flush();
    pending_bytes_ += t.data.size();
    total_ += t.data.size();
    pending_.push_back(std::move(t));
  }

  // Writes the last shard, renames shards to their final names and writes the index.
  uint32_t finish() {
    flush();
    const size_t n = shard_tmp_names_.size();
    std::map<std::string, std::string> weight_map;
    for (size_t i = 0; i < n; ++i) {
      std::string final_name =
          n == 1 ? "model.safetensors" : fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, n);
      std::error_code ec;
      fs::rename(dir_ / shard_tmp_names_[i], dir_ / final_name, ec);
      if (ec) throw IoError(kComponent, fmt::format("cannot rename shard ({}: {})", final_name, ec.message()));
      for (const auto& name : shard_tensors_[i]) weight_map[name] = final_name;
    }
    write_safetensors_index((dir_ / "model.safetensors.index.json").string(), total_, weight_map);
    return static_cast<uint32_t>(n);
  }

  uint64_t total() const { return total_; }

 private:
  void flush() {
    if (pending_.empty()) return;
    std::string name = fmt::format(".shard-{:05d}.safetensors", shard_tmp_names_.size() + 1);
    std::vector<SafetensorsTensorData> data;
    std::vector<std::string> names;
    for (const auto& t : pending_) {
      data.push_back({t.name, t.dtype, t.shape, t.data.data()});
      names.push_back(t.name);
    }
    write_safetensors((dir_ / name).string(), data, {{"format", "mlx"}});
    shard_tmp_names_.push_back(name);
    shard_tensors_.push_back(std::move(names));
    pending_.clear();
    pending_bytes_ = 0;
  }

  fs::path dir_;
  uint64_t max_bytes_;
  std::vector<OutTensor> pending_;
  uint64_t pending_bytes_ = 0;
  uint64_t total_ = 0;
  std::vector<std::string> shard_tmp_names_;
  std::vector<std::vector<std::string>> shard_tensors_;
};

// The model's config.json, kept as written (ordered keys are not needed: it is re-dumped).
nlohmann::json read_json(const std::string& path) {
  const std::string text = io::read_small_file(path, 16ull << 20, kComponent, "config");
  std::string why;
  std::optional<nlohmann::json> j = try_parse_json(text, &why);
  if (!j) {
    throw FormatError(kComponent, fmt::format("invalid JSON in config ({}, {}, {})", path,
                                              io::json_error_field(text), io::printable(why)));
  }
  if (!j->is_object()) throw FormatError(kComponent, fmt::format("config is not a JSON object ({})", path));
  return std::move(*j);
}

}  // namespace

QuantizeReport quantize_model(const std::string& model, const std::string& out_dir, const QuantizeOptions& opt) {
  if (opt.bits != 4 && opt.bits != 8) {
    throw UsageError(kComponent, fmt::format("bits must be 4 or 8 (--quantize, {}bit)", opt.bits));
  }
  if (opt.group_size != 32 && opt.group_size != 64 && opt.group_size != 128) {
    throw UsageError(kComponent, fmt::format("group size must be 32, 64 or 128 (--group-size, {})", opt.group_size));
  }
  if (opt.max_shard_bytes == 0) throw UsageError(kComponent, "shard size must be positive (--max-shard-size, 0)");
  LocatedModel loc = locate_model(model);
  if (loc.format != ModelFormat::SafetensorsDir || !loc.config_path) {
    throw UsageError(kComponent, fmt::format("quantize needs a safetensors model directory with config.json ({})",
                                             loc.display_name));
  }
  nlohmann::json config = read_json(*loc.config_path);
  if (config.contains("quantization") || config.contains("quantization_config")) {
    throw UsageError(kComponent, fmt::format("model is already quantized ({}, quantization)", *loc.config_path));
  }
  std::error_code same_ec;
  if (fs::equivalent(fs::path(loc.root), fs::path(out_dir), same_ec)) {
    throw UsageError(kComponent, fmt::format("output directory is the input model ({})", out_dir));
  }
  // Shards, index, config and tokenizer files appear in out_dir together or not at all.
  io::StagedDir out(out_dir, kComponent);

  QuantizeReport report;
  ShardWriter writer(out.path(), opt.max_shard_bytes);
  for (const std::string& file : loc.weight_files) {
    SafetensorsHeader h = read_safetensors_header(file);
    PreadFile in(file, kComponent);
    for (const TensorSpec& t : h.tensors) {
      if (ends_with(t.name, ".scales") || t.dtype == DType::U32) {
        throw UsageError(kComponent, fmt::format("model is already quantized ({}, {})", file, t.name));
      }
      std::vector<uint8_t> raw(t.bytes);
      in.read(t.offset, raw.data(), t.bytes);
      report.bytes_in += t.bytes;
      const bool quantize = ends_with(t.name, ".weight") && t.shape.size() == 2 && is_float(t.dtype) &&
                            t.shape[1] % opt.group_size == 0;
      if (!quantize) {
        report.tensors_kept++;
        writer.add({t.name, t.dtype, t.shape, std::move(raw)});
        continue;
      }
      const uint64_t rows = t.shape[0], cols = t.shape[1];
      std::vector<float> w = to_f32(raw.data(), rows * cols, t.dtype);
      raw = {};
      MlxQuantized q = mlx_quantize(w.data(), rows, cols, opt.bits, opt.group_size, t.dtype);
      const std::string base = t.name.substr(0, t.name.size() - std::string(".weight").size());
      const uint64_t groups = cols / opt.group_size;
      writer.add({t.name, DType::U32, {rows, cols * opt.bits / 32}, std::move(q.packed)});
      writer.add({base + ".scales", t.dtype, {rows, groups}, std::move(q.scales)});
      writer.add({base + ".biases", t.dtype, {rows, groups}, std::move(q.biases)});
      report.tensors_quantized++;
    }
  }
  report.shards = writer.finish();
  report.bytes_out = writer.total();

  nlohmann::json q = {{"group_size", opt.group_size}, {"bits", opt.bits}};
  config["quantization"] = q;
  config["quantization_config"] = q;
  write_text(out.file("config.json"), config.dump(2) + "\n");
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                           "generation_config.json", "chat_template.jinja", "chat_template.json"}) {
    fs::path src = fs::path(loc.root) / name;
    if (!fs::exists(src)) continue;
    std::error_code ec;
    fs::copy_file(src, out.file(name), fs::copy_options::overwrite_existing, ec);
    if (ec) throw IoError(kComponent, fmt::format("cannot copy ({}: {})", src.string(), ec.message()));
  }
  out.commit();
  return report;
}

}  // namespace mlxcel::runtime
