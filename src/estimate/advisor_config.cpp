// Kept apart from advisor.cpp: the only estimator code that calls into the registry.
#include "estimate/advisor.h"

#include "mlxcel/errors.h"

namespace mlxcel {

SpecForFormat spec_for_format_from_config(const ModelSpec& spec) {
  nlohmann::json config = spec.config;
  return [config](const AnalyticOptions& options) {
    if (config.is_null() || config.empty())
      throw ConfigError("estimate", "model has no config to derive other weight formats from "
                                    "(model, config, empty)");
    return analytic_spec(config, options);
  };
}

}  // namespace mlxcel
