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
// HF_HOME/hub, then XDG_CACHE_HOME/huggingface/hub, then ~/.cache/huggingface/hub;
// refs/<revision> or a snapshot hash).
// Directory order of preference: model.safetensors.index.json (or the only *.safetensors.index.json;
// every shard must exist) > all *.safetensors (sorted) > one GGUF model or one split set
// (mmproj* files ignored when other GGUFs exist) > config.json alone (ConfigOnly). A path to an
// index file or to config.json locates its directory. Paths are absolute and lexically
// normalized, symlinks kept (Hugging Face snapshot files are symlinks into blobs/).
// display_name is the argument as given, or "org/name@revision" (revision defaults to main).
// Throws IoError naming what was tried when nothing matches (missing shard or split part too);
// FormatError from the index reader (e.g. an unsafe shard path).
LocatedModel locate_model(const std::string& arg);

}  // namespace mlxcel
