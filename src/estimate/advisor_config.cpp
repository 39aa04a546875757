// Kept apart from advisor.cpp: the only estimator code that calls into the registry.
#include "estimate/advisor.h"

#include "mlxcel/errors.h"

namespace mlxcel {

SpecForFormat spec_for_format_from_config(const ModelSpec& spec) {
  nlohmann::json config = spec.config;
  // The same tokenizer loads whatever the weight format: every alternative is a whole plan.
  const uint64_t tokenizer_bytes = spec.tokenizer_file_bytes;
  const bool tiktoken = spec.tokenizer_is_tiktoken;
  return [config, tokenizer_bytes, tiktoken](const AnalyticOptions& options) {
    if (config.is_null() || config.empty())
      throw ConfigError("estimate", "model has no config to derive other weight formats from "
                                    "(model, config, empty)");
    ModelSpec s = analytic_spec(config, options);
    s.tokenizer_file_bytes = tokenizer_bytes;
    s.tokenizer_is_tiktoken = tiktoken;
    return s;
  };
}

}  // namespace mlxcel
