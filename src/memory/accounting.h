// Counters shared between the allocator and the other parts of src/memory (mapped regions).
#pragma once

#include <cstdint>

namespace mlxcel::memory_detail {

void add_mapped(uint64_t bytes) noexcept;
void sub_mapped(uint64_t bytes) noexcept;

// Whether MLXCEL_THP's value asks for the huge-page advice: "0" no; unset, empty or "1" yes;
// anything else yes, with a warning naming the variable and the value.
bool huge_pages_from_env(const char* env_value);

}  // namespace mlxcel::memory_detail
