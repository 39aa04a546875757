// Helpers for forward-pass tests: tiny random models from the real configs in testdata, the numpy
// reference (tests/reference/llama_ref.py), and running the runtime over a token sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlxcel/estimate.h"
#include "runtime/random_model.h"

namespace mlxcel::runtime::test_helpers {

// The tiny shape the runtime tests use: 2 layers, hidden 64, ffn 96, 4 heads / 2 KV heads of 16,
// vocab 300, weights in `dtype` from `seed`.
RandomModelOptions tiny_model_options(uint64_t seed, DType dtype = DType::F32);

// testdata/configs/<name>/config.json
nlohmann::json testdata_config(const std::string& name);

// Writes a random model for `config` with options into dir and returns dir.
std::string make_model(const std::string& dir, const nlohmann::json& config, const RandomModelOptions& options);

// Logits [tokens.size(), vocab] from the numpy reference (float64 inside, float32 out).
std::vector<float> reference_logits(const std::string& model_dir, const std::vector<int32_t>& tokens);

// Runs the runtime: prefill of tokens[0, split) (in chunks of run.prefill_chunk), then decode of
// the rest one by one. Returns the logits of positions split-1 .. n-1, [(n - split + 1), vocab].
std::vector<float> runtime_logits(const std::string& model_dir, const std::vector<int32_t>& tokens, uint64_t split,
                                  const RunConfig& run);

// max |a - b| over rows [row0, row0 + rows) of the reference against all of `got`.
double max_abs_diff(const std::vector<float>& reference, uint64_t row0, const std::vector<float>& got, uint64_t vocab);

// A deterministic token sequence of length n with ids in [3, vocab).
std::vector<int32_t> test_tokens(uint64_t n, uint64_t vocab, uint64_t seed);

}  // namespace mlxcel::runtime::test_helpers
