// Model locator: turns a model argument into the files that describe it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mlxcel {

enum class ModelFormat { SafetensorsDir, SafetensorsFile, Gguf, ConfigOnly };

struct LocatedModel {
  ModelFormat format = ModelFormat::ConfigOnly;
  std::string root;                        // directory or single file, absolute
  std::string display_name;                // what to show the user (path or repo id@rev)
  std::optional<std::string> config_path;  // config.json when present
  std::optional<std::string> index_path;   // model.safetensors.index.json when sharded
  std::vector<std::string> weight_files;   // shards / GGUF split parts in order, absolute
};

// Accepts: a directory (config.json + *.safetensors, sharded with an index, or config.json
// alone), a .safetensors file, a .gguf file (split "-00001-of-0000N.gguf" finds its parts), or a
// Hugging Face repo id "org/name[@revision]" resolved in the local cache (HF_HUB_CACHE, then
// HF_HOME/hub, then ~/.cache/huggingface/hub; refs/<revision> or a snapshot hash).
// Throws IoError naming what was tried when nothing matches.
LocatedModel locate_model(const std::string& arg);

}  // namespace mlxcel
