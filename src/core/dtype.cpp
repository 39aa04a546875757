#include "mlxcel/dtype.h"

#include <array>
#include <cctype>

#include "core/checked.h"

namespace mlxcel {
namespace {

// Block sizes and bytes per block of the ggml formats follow the block structs in ggml's
// ggml-common.h (QK_K = 256); ids follow enum ggml_type.
constexpr std::array<DTypeInfo, 39> kTable{{
    {DType::Bool, "BOOL", 1, 1, -1},
    {DType::U8, "U8", 1, 1, -1},
    {DType::I8, "I8", 1, 1, 24},
    {DType::U16, "U16", 1, 2, -1},
    {DType::I16, "I16", 1, 2, 25},
    {DType::U32, "U32", 1, 4, -1},
    {DType::I32, "I32", 1, 4, 26},
    {DType::U64, "U64", 1, 8, -1},
    {DType::I64, "I64", 1, 8, 27},
    {DType::F8_E4M3, "F8_E4M3", 1, 1, -1},
    {DType::F8_E5M2, "F8_E5M2", 1, 1, -1},
    {DType::F16, "F16", 1, 2, 1},
    {DType::BF16, "BF16", 1, 2, 30},
    {DType::F32, "F32", 1, 4, 0},
    {DType::F64, "F64", 1, 8, 28},
    {DType::Q4_0, "Q4_0", 32, 18, 2},
    {DType::Q4_1, "Q4_1", 32, 20, 3},
    {DType::Q5_0, "Q5_0", 32, 22, 6},
    {DType::Q5_1, "Q5_1", 32, 24, 7},
    {DType::Q8_0, "Q8_0", 32, 34, 8},
    {DType::Q8_1, "Q8_1", 32, 36, 9},
    {DType::Q2_K, "Q2_K", 256, 84, 10},
    {DType::Q3_K, "Q3_K", 256, 110, 11},
    {DType::Q4_K, "Q4_K", 256, 144, 12},
    {DType::Q5_K, "Q5_K", 256, 176, 13},
    {DType::Q6_K, "Q6_K", 256, 210, 14},
    {DType::Q8_K, "Q8_K", 256, 292, 15},
    {DType::IQ2_XXS, "IQ2_XXS", 256, 66, 16},
    {DType::IQ2_XS, "IQ2_XS", 256, 74, 17},
    {DType::IQ3_XXS, "IQ3_XXS", 256, 98, 18},
    {DType::IQ1_S, "IQ1_S", 256, 50, 19},
    {DType::IQ4_NL, "IQ4_NL", 32, 18, 20},
    {DType::IQ3_S, "IQ3_S", 256, 110, 21},
    {DType::IQ2_S, "IQ2_S", 256, 82, 22},
    {DType::IQ4_XS, "IQ4_XS", 256, 136, 23},
    {DType::IQ1_M, "IQ1_M", 256, 56, 29},
    {DType::TQ1_0, "TQ1_0", 256, 54, 34},
    {DType::TQ2_0, "TQ2_0", 256, 66, 35},
    {DType::MXFP4, "MXFP4", 32, 17, 39},
}};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

const DTypeInfo& dtype_info(DType t) { return kTable[static_cast<size_t>(t)]; }
std::string_view dtype_name(DType t) { return dtype_info(t).name; }

std::optional<DType> dtype_from_safetensors(std::string_view name) {
  for (const auto& e : kTable) {
    if (e.block_elems != 1) break;  // element types come first in the table
    if (e.name == name) return e.type;
  }
  return std::nullopt;
}

std::optional<DType> dtype_from_ggml_id(uint32_t id) {
  for (const auto& e : kTable)
    if (e.ggml_id >= 0 && static_cast<uint32_t>(e.ggml_id) == id) return e.type;
  return std::nullopt;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& e : kTable)
    if (iequals(e.name, name)) return e.type;
  return std::nullopt;
}

std::optional<uint64_t> dtype_bytes(DType t, uint64_t n_elems) {
  const auto& info = dtype_info(t);
  if (n_elems % info.block_elems != 0) return std::nullopt;
  return checked_mul(n_elems / info.block_elems, info.block_bytes);
}

}  // namespace mlxcel
