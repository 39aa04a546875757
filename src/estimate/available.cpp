// Available memory: MemAvailable from /proc/meminfo and every cgroup (v2 and v1) memory limit on
// the path from this process's cgroup up to its hierarchy's root; the smallest wins. Swap is not
// counted: a model paged out to swap is not a run anyone wants.
#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/checked.h"
#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"

namespace mlxcel {
namespace {

namespace fs = std::filesystem;

// cgroup v1 reports "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 on x86-64 with
// 4 KiB pages); anything this large is not a real limit.
constexpr uint64_t kV1Unlimited = uint64_t{1} << 62;

std::optional<std::string> read_small_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return buf.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal.
std::string unescape_mount(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t j = 1; j <= 3; ++j) {
        char c = s[i + j];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

struct Mount {
  int version = 0;      // 1 or 2
  std::string root;     // the cgroup path this mount shows at its mount point
  fs::path point;       // under the probe root
};

std::vector<Mount> cgroup_mounts(const fs::path& root) {
  std::vector<Mount> mounts;
  if (auto info = read_small_file(root / "proc/self/mountinfo")) {
    std::istringstream lines(*info);
    std::string line;
    while (std::getline(lines, line)) {
      auto dash = line.find(" - ");
      if (dash == std::string::npos) continue;
      auto before = split(line.substr(0, dash), ' ');
      auto after = split(line.substr(dash + 3), ' ');
      if (before.size() < 5 || after.size() < 3) continue;
      Mount m;
      if (after[0] == "cgroup2") {
        m.version = 2;
      } else if (after[0] == "cgroup") {
        bool memory = false;
        for (const auto& opt : split(after[2], ','))
          if (opt == "memory") memory = true;
        if (!memory) continue;
        m.version = 1;
      } else {
        continue;
      }
      m.root = unescape_mount(before[3]);
      m.point = root / fs::path(unescape_mount(before[4])).relative_path();
      mounts.push_back(m);
    }
    return mounts;
  }
  // No mountinfo: the usual places (unified, hybrid, legacy layouts).
  const fs::path base = root / "sys/fs/cgroup";
  if (fs::exists(base / "cgroup.controllers")) mounts.push_back({2, "/", base});
  else if (fs::exists(base / "unified/cgroup.controllers")) mounts.push_back({2, "/", base / "unified"});
  if (fs::exists(base / "memory")) mounts.push_back({1, "/", base / "memory"});
  return mounts;
}

struct Limit {
  uint64_t bytes = 0;
  std::string source;
};

// limit - usage at one cgroup directory, or nullopt when unlimited or unreadable.
std::optional<uint64_t> headroom_at(const fs::path& dir, int version) {
  auto limit_text = read_small_file(dir / (version == 2 ? "memory.max" : "memory.limit_in_bytes"));
  auto usage_text =
      read_small_file(dir / (version == 2 ? "memory.current" : "memory.usage_in_bytes"));
  if (!limit_text || !usage_text) return std::nullopt;
  std::string l = trim(*limit_text), u = trim(*usage_text);
  if (version == 2 && l == "max") return std::nullopt;
  auto limit = parse_u64(l);
  auto usage = parse_u64(u);
  if (!limit || !usage) return std::nullopt;
  if (version == 1 && *limit >= kV1Unlimited) return std::nullopt;
  return *limit > *usage ? *limit - *usage : 0;
}

std::string shown_path(const fs::path& p, const fs::path& root) {
  std::string s = p.lexically_normal().string();
  std::string r = root.lexically_normal().string();
  if (r != "/" && s.rfind(r, 0) == 0) s = s.substr(r.size());
  if (s.empty() || s[0] != '/') s = "/" + s;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// The tightest limit on the path from this process's cgroup up to the mount's root.
std::optional<Limit> cgroup_limit(const fs::path& root, const Mount& m, const std::string& path) {
  std::string rel = path;
  if (m.root != "/" && rel.rfind(m.root, 0) == 0) rel = rel.substr(m.root.size());
  fs::path leaf = m.point / fs::path(rel).relative_path();
  // A path outside the mount (cgroup namespaces show "/.."; containers may show the host path)
  // means the mount point itself is our cgroup.
  if (rel.find("..") != std::string::npos || !fs::is_directory(leaf)) leaf = m.point;
  std::optional<Limit> best;
  fs::path dir = leaf.lexically_normal();
  const fs::path top = m.point.lexically_normal();
  for (;;) {
    if (auto h = headroom_at(dir, m.version); h && (!best || *h < best->bytes)) {
      best = Limit{*h, m.version == 2
                           ? fmt::format("cgroup v2 memory.max - memory.current ({})",
                                         shown_path(dir, root))
                           : fmt::format("cgroup v1 memory.limit_in_bytes - memory.usage_in_bytes "
                                         "({})",
                                         shown_path(dir, root))};
    }
    if (dir == top || !dir.has_parent_path() || dir.parent_path() == dir) break;
    auto rel_to_top = dir.lexically_relative(top);
    if (rel_to_top.empty() || rel_to_top.native().rfind("..", 0) == 0) break;
    dir = dir.parent_path();
  }
  return best;
}

}  // namespace

AvailableMemory probe_available_memory(const std::string& root_dir) {
  const fs::path root(root_dir);
  const fs::path meminfo_path = root / "proc/meminfo";
  auto meminfo = read_small_file(meminfo_path);
  if (!meminfo)
    throw IoError("estimate", fmt::format("cannot read memory information ({}, -, -)",
                                          meminfo_path.string()));
  std::optional<uint64_t> total_kb, avail_kb, free_kb;
  std::istringstream lines(*meminfo);
  std::string line;
  while (std::getline(lines, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    std::string value = trim(line.substr(colon + 1));
    if (value.size() > 3 && value.compare(value.size() - 3, 3, " kB") == 0)
      value = trim(value.substr(0, value.size() - 3));
    auto v = parse_u64(value);
    if (!v) continue;
    if (key == "MemTotal") total_kb = v;
    else if (key == "MemAvailable") avail_kb = v;
    else if (key == "MemFree") free_kb = v;
  }
  auto kib = [&](std::optional<uint64_t> kb, std::string_view field) {
    auto b = checked_mul(*kb, 1024);
    if (!b)
      throw FormatError("estimate", fmt::format("memory figure overflows ({}, {}, {})",
                                                meminfo_path.string(), field, *kb));
    return *b;
  };
  AvailableMemory out;
  if (total_kb) out.mem_total = kib(total_kb, "MemTotal");
  if (avail_kb) {
    out.mem_available = kib(avail_kb, "MemAvailable");
    out.bytes = out.mem_available;
    out.source = "MemAvailable (/proc/meminfo)";
  } else if (free_kb) {
    // Kernels before 3.14 have no MemAvailable; MemFree is the conservative stand-in.
    out.mem_available = kib(free_kb, "MemFree");
    out.bytes = out.mem_available;
    out.source = "MemFree (/proc/meminfo has no MemAvailable)";
  } else {
    throw FormatError("estimate", fmt::format("no MemAvailable or MemFree line ({}, MemAvailable, "
                                              "missing)", meminfo_path.string()));
  }

  auto cgroups = read_small_file(root / "proc/self/cgroup");
  if (!cgroups) return out;
  std::string v2_path;
  std::string v1_path;
  bool has_v2 = false, has_v1 = false;
  std::istringstream cl(*cgroups);
  while (std::getline(cl, line)) {
    auto first = line.find(':');
    auto second = first == std::string::npos ? std::string::npos : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string id = line.substr(0, first);
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (id == "0" && controllers.empty()) {
      has_v2 = true;
      v2_path = path;
    } else {
      for (const auto& c : split(controllers, ','))
        if (c == "memory") {
          has_v1 = true;
          v1_path = path;
        }
    }
  }
  for (const auto& m : cgroup_mounts(root)) {
    if ((m.version == 2 && !has_v2) || (m.version == 1 && !has_v1)) continue;
    auto lim = cgroup_limit(root, m, m.version == 2 ? v2_path : v1_path);
    if (lim && lim->bytes < out.bytes) {
      out.bytes = lim->bytes;
      out.source = lim->source;
    }
  }
  return out;
}

AvailableMemory probe_available_memory() { return probe_available_memory("/"); }

AvailableMemory budget_available_memory(uint64_t budget) {
  AvailableMemory out;
  out.bytes = budget;
  out.source = "--memory-budget";
  return out;
}

}  // namespace mlxcel
