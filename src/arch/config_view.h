// Read access to a (normalized) config.json through the registry's field aliases: every getter
// accepts the canonical HF name and finds it under any alias ("n_embd" for "hidden_size").
// Values must be what the field means (non-negative integers, bools); anything else is a
// ConfigError naming the config file, the field and the value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mlxcel::arch {

// Aliases of a canonical field, canonical name first; a name without aliases maps to itself.
std::vector<std::string_view> field_aliases(std::string_view canonical);

class ConfigView {
 public:
  ConfigView(const nlohmann::json& config, std::string config_name)
      : config_(config), name_(std::move(config_name)) {}

  const nlohmann::json& json() const { return config_; }
  const std::string& name() const { return name_; }

  // The value under the canonical name or an alias; null values count as absent.
  const nlohmann::json* find(std::string_view canonical) const;
  // Which spelling was found (for messages); empty when absent.
  std::string spelling(std::string_view canonical) const;

  std::optional<uint64_t> get_u64(std::string_view canonical) const;
  uint64_t require_u64(std::string_view canonical) const;  // also rejects 0
  uint64_t u64_or(std::string_view canonical, uint64_t fallback) const {
    return get_u64(canonical).value_or(fallback);
  }
  std::optional<bool> get_bool(std::string_view canonical) const;
  bool bool_or(std::string_view canonical, bool fallback) const {
    return get_bool(canonical).value_or(fallback);
  }
  std::optional<double> get_double(std::string_view canonical) const;
  std::optional<std::string> get_string(std::string_view canonical) const;
  // An array of non-negative integers (e.g. mlp_only_layers); empty when absent.
  std::vector<uint64_t> get_u64_list(std::string_view canonical) const;
  // An array of strings (e.g. layer_types); nullopt when absent.
  std::optional<std::vector<std::string>> get_string_list(std::string_view canonical) const;

  [[noreturn]] void fail(std::string_view field, const std::string& what) const;

 private:
  const nlohmann::json& config_;
  std::string name_;
};

}  // namespace mlxcel::arch
