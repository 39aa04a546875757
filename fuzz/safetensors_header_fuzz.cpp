// Fuzzes the safetensors header reader: the input is a whole .safetensors file (8-byte
// little-endian header length, JSON header, data). read_safetensors_header takes only a path, so
// the input is written to an in-memory file (memfd) reached by /proc/self/fd/N.
// Seeds: fuzz/corpus/safetensors_header_fuzz (small hand-made files and regressions); scripts/fuzz.sh
// adds files written by build-fuzz/fuzz/fuzz_seeds. -max_len 65536.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "io/safetensors.h"
#include "mlxcel/dtype.h"
#include "mlxcel/errors.h"

using mlxcel::fuzz::broken_promise;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static mlxcel::fuzz::MemFile file("model.safetensors");
  file.write(std::string_view(reinterpret_cast<const char*>(data), size));
  mlxcel::SafetensorsHeader h;
  try {
    h = mlxcel::read_safetensors_header(file.path());
  } catch (const mlxcel::Error& e) {
    mlxcel::fuzz::refused(e);
    return 0;  // FormatError / IoError: the documented way to refuse a file
  }
  // What the reader promises about a header it accepted (src/io/safetensors.h).
  if (h.file_size != size) broken_promise("file_size is not the file's size");
  if (h.data_start != 8 + h.header_len || h.data_start > size) broken_promise("data_start");
  if (h.bytes_read > h.data_start) broken_promise("read past the header");
  uint64_t prev_end = h.data_start;
  for (const auto& t : h.tensors) {
    uint64_t elems = 1;
    for (uint64_t d : t.shape) {
      if (d != 0 && elems > UINT64_MAX / d) broken_promise("shape overflow accepted: " + t.name);
      elems *= d;
    }
    const auto bytes = mlxcel::dtype_bytes(t.dtype, elems);
    if (!bytes || *bytes != t.bytes) broken_promise("span is not shape x dtype: " + t.name);
    if (t.offset < h.data_start || t.offset > size || t.bytes > size - t.offset) {
      broken_promise("tensor outside the data section: " + t.name);
    }
    if (t.bytes != 0) {
      if (t.offset < prev_end) broken_promise("overlapping or unsorted tensors: " + t.name);
      prev_end = t.offset + t.bytes;
    }
  }
  return 0;
}
