// load_model_spec: locate the model, read only headers (safetensors JSON headers, GGUF metadata
// and tensor infos) and the config, and build the ModelSpec the memory plan consumes.
#include <filesystem>
#include <map>
#include <set>

#include "arch/analytic.h"
#include "arch/config_view.h"
#include "arch/quantize.h"
#include "arch/registry.h"
#include "io/gguf.h"
#include "io/locator.h"
#include "io/safetensors.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

namespace fs = std::filesystem;

uint64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : n;
}

// Float dtype, reported quantization and warnings from the config of an exact spec.
void describe_from_config(ModelSpec& spec, const std::string& config_name) {
  arch::ConfigView cv(spec.config, config_name);
  const arch::Family* f = arch::find_family(spec.model_type);
  if (!f) return;  // fill_dims_and_layers already threw for unknown families
  spec.float_dtype = arch::float_dtype_from_config(cv, spec.warnings);
  spec.quant = arch::quant_scheme_from_config(cv, *f, spec.float_dtype).quant;
}

ModelSpec analytic_from(const nlohmann::json& config, const AnalyticOptions& options,
                        const std::string& config_name, const LocatedModel& loc) {
  ModelSpec spec = analytic_spec(config, options, config_name);
  spec.root = loc.root;
  spec.header_bytes_read = file_size_or_zero(config_name);
  return spec;
}

ModelSpec exact_safetensors(const LocatedModel& loc) {
  ModelSpec spec;
  spec.source = WeightSource::Exact;
  spec.format = "safetensors";
  spec.root = loc.root;

  std::map<std::string, int> file_of;  // tensor -> file index
  std::map<std::string, int> index_of_basename;
  for (const auto& path : loc.weight_files) {
    SafetensorsHeader h = read_safetensors_header(path);
    const int idx = static_cast<int>(spec.files.size());
    spec.files.push_back(path);
    index_of_basename[fs::path(path).filename().string()] = idx;
    spec.header_bytes_read += h.bytes_read;
    for (auto& t : h.tensors) {
      t.file = idx;
      if (!file_of.emplace(t.name, idx).second)
        throw FormatError("arch", "tensor stored twice (" + path + ", " + t.name + ", also in " +
                                      spec.files[file_of[t.name]] + ")");
      spec.tensors.push_back(std::move(t));
    }
  }

  if (loc.index_path) {
    SafetensorsIndex index = read_safetensors_index(*loc.index_path);
    spec.header_bytes_read += file_size_or_zero(*loc.index_path);
    for (const auto& [tensor, shard] : index.weight_map) {
      auto shard_it = index_of_basename.find(shard);
      if (shard_it == index_of_basename.end())
        throw FormatError("arch", "index names a shard that was not read (" + *loc.index_path +
                                      ", " + tensor + ", " + shard + ")");
      auto t = file_of.find(tensor);
      if (t == file_of.end() || t->second != shard_it->second)
        throw FormatError("arch", "index maps a tensor to a shard that does not hold it (" +
                                      *loc.index_path + ", " + tensor + ", " + shard + ")");
    }
    if (index.weight_map.size() != file_of.size())
      spec.warnings.push_back("shards hold " + std::to_string(file_of.size()) +
                              " tensors but the index maps " +
                              std::to_string(index.weight_map.size()));
    if (index.total_size && *index.total_size != spec.weight_bytes())
      spec.warnings.push_back("index metadata.total_size is " + std::to_string(*index.total_size) +
                              " bytes but the shard headers hold " +
                              std::to_string(spec.weight_bytes()) + " bytes of tensors");
  }

  classify_tensors(spec.tensors);
  if (!loc.config_path) {
    spec.warnings.push_back("no config.json next to the weights: layer caches are unknown");
    return spec;
  }
  const std::string& config_name = *loc.config_path;
  spec.header_bytes_read += file_size_or_zero(config_name);
  fill_dims_and_layers(spec, read_config_json(config_name), config_name);
  describe_from_config(spec, config_name);
  arch::mark_mtp_tensors(spec.tensors, spec.dims.num_layers);
  return spec;
}

GgufFile read_gguf_parts(const LocatedModel& loc, ModelSpec& spec) {
  GgufReadOptions opts;
  opts.max_array_elems_kept = 64;  // vocab arrays are only counted (the length is kept)
  GgufFile merged;
  for (size_t i = 0; i < loc.weight_files.size(); ++i) {
    GgufFile part = read_gguf(loc.weight_files[i], opts);
    spec.header_bytes_read += part.bytes_read;
    const int idx = static_cast<int>(spec.files.size());
    spec.files.push_back(loc.weight_files[i]);
    if (i == 0) {
      merged.path = part.path;
      merged.version = part.version;
      merged.metadata = std::move(part.metadata);
      merged.metadata_types = std::move(part.metadata_types);
    }
    for (auto& t : part.tensors) {
      t.file = idx;
      merged.tensors.push_back(std::move(t));
    }
  }
  std::set<std::string> seen;
  for (const auto& t : merged.tensors)
    if (!seen.insert(t.name).second)
      throw FormatError("arch", "tensor stored twice across GGUF parts (" + merged.path + ", " +
                                    t.name + ")");
  return merged;
}

}  // namespace

namespace {

// tokenizer.json, else tokenizer.model (tiktoken), in the model's directory (a single
// .safetensors file's directory counts): its size and kind. GGUF files carry their vocabulary
// inside and report 0 here.
struct TokenizerFile {
  uint64_t bytes = 0;
  bool tiktoken = false;
};

TokenizerFile tokenizer_file_near(const LocatedModel& loc) {
  if (loc.format == ModelFormat::Gguf) return {};
  std::error_code ec;
  fs::path dir(loc.root);
  if (!fs::is_directory(dir, ec)) dir = dir.parent_path();
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    const fs::path p = dir / name;
    if (fs::is_regular_file(p, ec)) {
      const auto size = fs::file_size(p, ec);
      if (!ec) return {size, std::string_view(name) == "tokenizer.model"};
    }
  }
  return {};
}

ModelSpec spec_for(const LocatedModel& loc, const SpecOptions& options);

}  // namespace

ModelSpec load_model_spec(const std::string& model_arg, const SpecOptions& options) {
  const LocatedModel loc = locate_model(model_arg);
  ModelSpec spec = spec_for(loc, options);
  const TokenizerFile tok = tokenizer_file_near(loc);
  spec.tokenizer_file_bytes = tok.bytes;
  spec.tokenizer_is_tiktoken = tok.tiktoken;
  return spec;
}

namespace {

ModelSpec spec_for(const LocatedModel& loc, const SpecOptions& options) {
  const bool what_if = options.force_analytic || options.analytic.requantize.has_value() ||
                       options.analytic.float_dtype.has_value();

  switch (loc.format) {
    case ModelFormat::ConfigOnly: {
      if (!loc.config_path) throw IoError("arch", "no config.json (" + loc.root + ")");
      return analytic_from(read_config_json(*loc.config_path), options.analytic, *loc.config_path,
                           loc);
    }
    case ModelFormat::SafetensorsDir:
    case ModelFormat::SafetensorsFile: {
      if (!what_if) return exact_safetensors(loc);
      if (!loc.config_path)
        throw ConfigError("arch", "a what-if estimate needs config.json next to the weights (" +
                                      loc.root + ")");
      return analytic_from(read_config_json(*loc.config_path), options.analytic, *loc.config_path,
                           loc);
    }
    case ModelFormat::Gguf: {
      ModelSpec spec;
      GgufFile g = read_gguf_parts(loc, spec);
      nlohmann::json config = config_from_gguf(g);
      if (what_if) {
        ModelSpec a = analytic_spec(config, options.analytic, g.path);
        a.root = loc.root;
        a.header_bytes_read = spec.header_bytes_read;
        return a;
      }
      spec.source = WeightSource::Exact;
      spec.format = "gguf";
      spec.root = loc.root;
      spec.tensors = std::move(g.tensors);
      classify_tensors(spec.tensors);
      fill_dims_and_layers(spec, config, g.path);
      spec.quant.method = QuantMethod::Gguf;
      spec.float_dtype = DType::F16;
      for (const auto& t : spec.tensors)
        if (t.name == "token_embd.weight" &&
            (t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F16))
          spec.float_dtype = t.dtype;
      arch::mark_mtp_tensors(spec.tensors, spec.dims.num_layers);
      return spec;
    }
  }
  throw std::logic_error("[arch] unhandled model format");
}

}  // namespace

ModelSpec read_model_spec(const std::string& model) { return load_model_spec(model); }

}  // namespace mlxcel
