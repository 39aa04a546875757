// Byte sizes: parsed from "16GiB", "16G" (binary), "16GB" (decimal), "512MiB" or a plain count,
// printed with binary units.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mlxcel {

// Throws UsageError naming `what` (e.g. "--memory-budget") and the value when unparsable.
uint64_t parse_size(std::string_view text, std::string_view what = "size");

// "1.50 GiB", "512.00 MiB", "17 B".
std::string format_bytes(uint64_t bytes);

}  // namespace mlxcel
