// Parsing of option values shared by subcommands (inspect now; generate/serve's preflight later).
// Each throws UsageError naming the option and the value, so the CLI exits with code 2.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "arch/registry.h"
#include "mlxcel/estimate.h"

namespace mlxcel::cli {

// A whole number in [1, max].
uint64_t parse_count_option(std::string_view text, std::string_view option,
                            uint64_t max = UINT64_MAX);

// f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q8 q4 (case-insensitive).
KvCacheType parse_cache_type_option(std::string_view text, std::string_view option);

// bf16 | f16 | f32 (plain floats), 8bit | 4bit (MLX affine, group 64), mlx-<N>bit-g<G>
// (N in 2,3,4,5,6,8; G in 32,64,128): the analytic what-if options for the registry.
AnalyticOptions parse_quant_option(std::string_view text, std::string_view option);

// One line for --help texts.
constexpr const char* kCacheTypesHelp =
    "f32, f16, bf16; q8_0, q4_0, q4_1, q5_0, q5_1 (ggml blocks of 32); q8, q4 (MLX affine, "
    "groups of 64 with an f16 scale and bias)";
constexpr const char* kQuantHelp =
    "bf16, f16, f32 (plain floats); 8bit, 4bit (MLX affine, group 64); mlx-<N>bit-g<G> with N in "
    "2,3,4,5,6,8 and G in 32,64,128";

}  // namespace mlxcel::cli
