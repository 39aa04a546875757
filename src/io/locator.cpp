#include "io/locator.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "io/file_util.h"
#include "io/safetensors.h"
#include "mlxcel/errors.h"

namespace mlxcel {
namespace {

namespace fs = std::filesystem;
constexpr const char* kComponent = "locator";

[[noreturn]] void not_found(const std::string& msg) { throw IoError(kComponent, msg); }

fs::path absolute_path(const fs::path& p) {
  fs::path a = fs::absolute(p).lexically_normal();
  // "dir/" normalizes to "dir/" with an empty file name; drop the separator.
  if (a.filename().empty() && a.has_parent_path() && a != a.root_path()) a = a.parent_path();
  return a;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);  // follows symlinks (Hugging Face snapshots are symlinks)
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "<prefix>-NNNNN-of-MMMMM.gguf": the part number, the part count and the prefix.
struct SplitName {
  std::string prefix;
  int part = 0;
  int count = 0;
};

std::optional<SplitName> parse_split(const std::string& name) {
  constexpr size_t kSuffix = 20;  // "-00001-of-00003.gguf"
  if (name.size() <= kSuffix || !ends_with(name, ".gguf")) return std::nullopt;
  std::string_view s(name);
  s = s.substr(name.size() - kSuffix);
  if (s[0] != '-' || s.substr(6, 4) != "-of-" || !all_digits(s.substr(1, 5)) || !all_digits(s.substr(10, 5))) {
    return std::nullopt;
  }
  SplitName r;
  r.prefix = name.substr(0, name.size() - kSuffix);
  r.part = std::stoi(std::string(s.substr(1, 5)));
  r.count = std::stoi(std::string(s.substr(10, 5)));
  if (r.part < 1 || r.count < 1 || r.part > r.count) return std::nullopt;
  return r;
}

std::vector<std::string> gguf_parts(const fs::path& file) {
  auto split = parse_split(file.filename().string());
  if (!split) return {file.string()};
  std::vector<std::string> parts;
  for (int i = 1; i <= split->count; ++i) {
    fs::path part = file.parent_path() / fmt::format("{}-{:05d}-of-{:05d}.gguf", split->prefix, i, split->count);
    if (!is_file(part)) {
      not_found(fmt::format("split GGUF part {} of {} is missing ({})", i, split->count, part.string()));
    }
    parts.push_back(part.string());
  }
  return parts;
}

std::optional<std::string> sibling_config(const fs::path& dir) {
  fs::path c = dir / "config.json";
  if (is_file(c)) return c.string();
  return std::nullopt;
}

LocatedModel locate_gguf_file(const fs::path& file, const std::string& display) {
  LocatedModel m;
  m.format = ModelFormat::Gguf;
  m.root = file.string();
  m.display_name = display;
  m.weight_files = gguf_parts(file);
  return m;
}

LocatedModel locate_dir(const fs::path& dir, const std::string& display,
                        std::optional<fs::path> index = std::nullopt) {
  std::vector<std::string> safetensors, indexes, ggufs;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!is_file(it->path())) continue;
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // temporaries such as our atomic writes
    if (ends_with(name, ".safetensors")) safetensors.push_back(name);
    if (ends_with(name, ".safetensors.index.json")) indexes.push_back(name);
    if (ends_with(name, ".gguf")) ggufs.push_back(name);
  }
  if (ec) not_found(fmt::format("cannot list directory ({}: {})", dir.string(), ec.message()));
  std::sort(safetensors.begin(), safetensors.end());
  std::sort(ggufs.begin(), ggufs.end());

  LocatedModel m;
  m.root = dir.string();
  m.display_name = display;
  m.config_path = sibling_config(dir);

  if (!index) {
    if (is_file(dir / "model.safetensors.index.json")) {
      index = dir / "model.safetensors.index.json";
    } else if (indexes.size() == 1) {
      index = dir / indexes[0];
    }
  }
  if (index) {
    SafetensorsIndex idx = read_safetensors_index(index->string());
    if (idx.shard_files.empty()) {
      throw FormatError("safetensors-index", fmt::format("weight_map names no shard ({})", index->string()));
    }
    for (const auto& shard : idx.shard_files) {
      fs::path p = dir / shard;
      if (!is_file(p)) {
        not_found(fmt::format("index names a missing shard \"{}\" ({}, expected at {})",
                              io::printable(shard), index->string(), p.string()));
      }
      m.weight_files.push_back(p.string());
    }
    m.format = ModelFormat::SafetensorsDir;
    m.index_path = index->string();
    return m;
  }
  if (!safetensors.empty()) {
    m.format = ModelFormat::SafetensorsDir;
    for (const auto& s : safetensors) m.weight_files.push_back((dir / s).string());
    return m;
  }
  if (!ggufs.empty()) {
    // A vision projector next to the language model is not a second model.
    std::vector<std::string> models;
    for (const auto& g : ggufs)
      if (g.rfind("mmproj", 0) != 0) models.push_back(g);
    if (models.empty()) models = ggufs;
    auto first = parse_split(models[0]);
    bool one_split_set = first && std::all_of(models.begin(), models.end(), [&](const std::string& g) {
                           auto s = parse_split(g);
                           return s && s->prefix == first->prefix && s->count == first->count;
                         });
    if (models.size() == 1 || one_split_set) {
      m.format = ModelFormat::Gguf;
      m.weight_files = gguf_parts(dir / models[0]);
      return m;
    }
    std::string list;
    for (const auto& g : models) list += (list.empty() ? "" : ", ") + g;
    not_found(fmt::format("several GGUF models in {}; pass one file: {}", dir.string(), list));
  }
  if (m.config_path) {
    m.format = ModelFormat::ConfigOnly;
    return m;
  }
  not_found(fmt::format("no config.json, *.safetensors or *.gguf in directory ({})", dir.string()));
}

bool repo_part_ok(std::string_view s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 96) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

bool revision_ok(std::string_view s) {
  if (s.empty() || s.front() == '/' || s.back() == '/') return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    if (end == std::string_view::npos) end = s.size();
    if (!repo_part_ok(s.substr(start, end - start))) return false;
    start = end + 1;
  }
  return true;
}

bool is_commit_hash(std::string_view s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

struct HubCache {
  fs::path dir;
  std::string source;
};

HubCache hub_cache_dir() {
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v && *v) return std::string(v);
    return std::nullopt;
  };
  if (auto v = env("HF_HUB_CACHE")) return {*v, "HF_HUB_CACHE"};
  if (auto v = env("HF_HOME")) return {fs::path(*v) / "hub", "HF_HOME/hub"};
  if (auto v = env("XDG_CACHE_HOME")) return {fs::path(*v) / "huggingface" / "hub", "XDG_CACHE_HOME/huggingface/hub"};
  if (auto v = env("HOME")) return {fs::path(*v) / ".cache" / "huggingface" / "hub", "~/.cache/huggingface/hub"};
  return {fs::path(".cache/huggingface/hub"), "no HOME"};
}

// What the cache holds for a repo, for the message when the asked revision is missing.
std::string cached_revisions(const fs::path& repo_dir) {
  std::vector<std::string> refs, snapshots;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(repo_dir / "refs", ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && refs.size() < 20)
      refs.push_back(io::printable(fs::relative(it->path(), repo_dir / "refs", ec).string()));
  }
  for (fs::directory_iterator it(repo_dir / "snapshots", ec), end; !ec && it != end; it.increment(ec)) {
    if (snapshots.size() < 20) snapshots.push_back(io::printable(it->path().filename().string()));
  }
  std::sort(refs.begin(), refs.end());
  std::sort(snapshots.begin(), snapshots.end());
  auto list = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return v.empty() ? std::string("none") : out;
  };
  return fmt::format("refs: {}; snapshots: {}", list(refs), list(snapshots));
}

std::optional<LocatedModel> locate_hf(const std::string& arg, std::vector<std::string>& tried) {
  std::string repo = arg, rev;
  if (auto at = arg.find('@'); at != std::string::npos) {
    repo = arg.substr(0, at);
    rev = arg.substr(at + 1);
    if (!revision_ok(rev)) {
      tried.push_back(fmt::format("revision \"{}\" is not a branch, tag or commit name (letters, digits, "
                                  "'-', '_', '.' and '/' between parts)",
                                  io::printable(rev)));
      return std::nullopt;
    }
  }
  auto slash = repo.find('/');
  if (slash == std::string::npos || !repo_part_ok(repo.substr(0, slash)) ||
      !repo_part_ok(repo.substr(slash + 1))) {
    return std::nullopt;
  }
  const bool explicit_rev = !rev.empty();
  if (!explicit_rev) rev = "main";

  HubCache hub = hub_cache_dir();
  fs::path repo_dir = absolute_path(hub.dir / ("models--" + repo.substr(0, slash) + "--" + repo.substr(slash + 1)));
  const std::string display = repo + "@" + rev;
  if (!fs::is_directory(repo_dir)) {
    tried.push_back(fmt::format("Hugging Face cache ({}): {} does not exist", hub.source, repo_dir.string()));
    return std::nullopt;
  }
  fs::path ref = repo_dir / "refs" / rev;
  std::optional<fs::path> snapshot;
  if (is_file(ref)) {
    // A ref holds a 40-character commit hash and a newline: read no more than could be one.
    std::ifstream in(ref, std::ios::binary);
    char buf[128];
    in.read(buf, sizeof buf);
    std::string hash(buf, static_cast<size_t>(in.gcount()));
    hash = hash.substr(0, hash.find('\n'));
    while (!hash.empty() && std::isspace(static_cast<unsigned char>(hash.back()))) hash.pop_back();
    if (!is_commit_hash(hash)) {
      not_found(fmt::format("refs file does not hold a commit hash ({}, \"{}\")", ref.string(),
                            io::printable(hash)));
    }
    snapshot = repo_dir / "snapshots" / hash;
    if (!fs::is_directory(*snapshot)) {
      not_found(fmt::format("{} points to snapshot {} which is not in the cache ({})", ref.string(), hash,
                            snapshot->string()));
    }
  } else if (is_commit_hash(rev) && fs::is_directory(repo_dir / "snapshots" / rev)) {
    snapshot = repo_dir / "snapshots" / rev;
  } else {
    tried.push_back(fmt::format("Hugging Face cache ({}): revision {} is not in the cache (no {} and no "
                                "snapshot {}); the cache has {}",
                                hub.source, rev, ref.string(), (repo_dir / "snapshots" / rev).string(),
                                cached_revisions(repo_dir)));
    return std::nullopt;
  }
  LocatedModel m = locate_dir(*snapshot, display);
  return m;
}

}  // namespace

LocatedModel locate_model(const std::string& arg) {
  if (arg.empty()) not_found("empty model argument");
  std::error_code ec;
  fs::path p(arg);
  auto st = fs::status(p, ec);
  if (!ec && fs::exists(st)) {
    fs::path abs = absolute_path(p);
    if (fs::is_directory(st)) return locate_dir(abs, arg);
    if (!fs::is_regular_file(st)) not_found(fmt::format("not a regular file or directory ({})", abs.string()));
    const std::string name = abs.filename().string();
    if (ends_with(name, ".safetensors")) {
      LocatedModel m;
      m.format = ModelFormat::SafetensorsFile;
      m.root = abs.string();
      m.display_name = arg;
      m.config_path = sibling_config(abs.parent_path());
      m.weight_files = {abs.string()};
      return m;
    }
    if (ends_with(name, ".gguf")) return locate_gguf_file(abs, arg);
    if (ends_with(name, ".safetensors.index.json")) return locate_dir(abs.parent_path(), arg, abs);
    if (name == "config.json") return locate_dir(abs.parent_path(), arg);
    not_found(fmt::format("not a model file: expected .safetensors, .gguf, an index or config.json ({})",
                          abs.string()));
  }
  std::vector<std::string> tried = {fmt::format("path {}: does not exist", absolute_path(p).string())};
  if (auto m = locate_hf(arg, tried)) return *m;
  if (tried.size() == 1) {
    tried.push_back("not a Hugging Face repo id (org/name[@revision])");
  }
  std::string list;
  for (const auto& t : tried) list += "; " + t;
  not_found(fmt::format("model not found: \"{}\"{}", io::printable(arg), list));
}

}  // namespace mlxcel
