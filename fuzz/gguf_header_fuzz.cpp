// Fuzzes the GGUF header reader and what `mlxcel inspect model.gguf` builds on it: the input is a
// whole .gguf file. read_gguf keeps every metadata array (as the tokenizer asks); then
// load_model_spec reads it again the way inspect does (arrays past 64 elements only counted),
// derives the config (config_from_gguf: block_count, head counts, per-layer arrays), builds the
// exact spec and plans its memory at the default context.
// The file lives in a per-process scratch directory as model.gguf (the locator goes by name).
// Seeds: fuzz/corpus/gguf_header_fuzz; scripts/fuzz.sh adds small GGUFs derived from
// ../shared/testdata/llama.cpp-ggml-vocab by build-fuzz/fuzz/fuzz_seeds. -max_len 65536.
#include <cstddef>
#include <cstdint>
#include <string>

#include "arch/registry.h"
#include "fuzz_util.h"
#include "io/gguf.h"
#include "mlxcel/errors.h"
#include "mlxcel/estimate.h"

using mlxcel::fuzz::broken_promise;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (mlxcel::fuzz::scratch_dir("gguf_header") / "model.gguf").string();
  mlxcel::fuzz::write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    const mlxcel::GgufFile g = mlxcel::read_gguf(path);
    // What the reader promises about a file it accepted (src/io/gguf.h).
    if (g.file_size != size) broken_promise("file_size is not the file's size");
    // data_start may lie past the end of a file without tensor data (header_end aligned up).
    if (g.header_end > g.data_start) broken_promise("header_end after data_start");
    if (g.bytes_read > g.header_end) broken_promise("read past the tensor infos");
    for (const auto& t : g.tensors) {
      if (t.offset < g.data_start || t.offset > size || t.bytes > size - t.offset) {
        broken_promise("tensor outside the file: " + t.name);
      }
    }
    (void)g.metadata.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const mlxcel::Error& e) {
    mlxcel::fuzz::refused(e);
    return 0;  // FormatError / IoError: the documented way to refuse a file
  }
  try {
    const mlxcel::ModelSpec spec = mlxcel::load_model_spec(path);
    const mlxcel::MemoryPlan plan = mlxcel::plan_memory(spec, mlxcel::default_run_config(spec));
    if (plan.total < plan.planned) broken_promise("plan total below planned");
  } catch (const mlxcel::Error& e) {
    mlxcel::fuzz::refused(e);
  }
  return 0;
}
