// Counters shared between the allocator and the other parts of src/memory (mapped regions).
#pragma once

#include <cstdint>

namespace mlxcel::memory_detail {

void add_mapped(uint64_t bytes) noexcept;
void sub_mapped(uint64_t bytes) noexcept;

}  // namespace mlxcel::memory_detail
