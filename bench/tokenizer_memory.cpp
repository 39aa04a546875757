// Heap a loaded tokenizer keeps, against the size of its file: what the memory plan's overhead
// has to cover for a real model's tokenizer (the calibration's random models carry a 258-token
// one). For each tokenizer given (default: the real ones in ../shared/testdata) it loads the
// tokenizer and prints the bytes malloc holds for it afterwards (mallinfo2 in-use delta) and the
// ratio to the file's bytes. Prints a table; passes or fails nothing.
//
//   bench_tokenizer_memory [PATH...]
#include <malloc.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace {

uint64_t heap_in_use() {
  malloc_trim(0);
  return mallinfo2().uordblks;
}

uint64_t tokenizer_file_bytes(const fs::path& p) {
  if (fs::is_regular_file(p)) return fs::file_size(p);
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    if (fs::exists(p / name)) return fs::file_size(p / name);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> paths(argv + 1, argv + argc);
  if (paths.empty()) {
    const std::string td = std::string(MLXCEL_SOURCE_DIR) + "/../shared/testdata/";
    for (const char* d : {"gpt2-tokenizer", "falcon-tokenizer", "phi-2-tokenizer", "phi-3-mini-tokenizer",
                          "llama-2-tokenizer", "llama-3-8b-instruct-tokenizer",
                          "granite-3.1-1b-a400m-instruct-tokenizer"}) {
      paths.push_back(td + d);
    }
  }
  std::printf("| tokenizer | vocab | file bytes | heap bytes | heap / file |\n|---|---|---|---|---|\n");
  for (const std::string& p : paths) {
    const uint64_t before = heap_in_use();
    try {
      const auto tok = mlxcel::Tokenizer::from_path(p);
      const uint64_t held = heap_in_use() - before;
      const uint64_t file = tokenizer_file_bytes(p);
      std::printf("| %s | %llu | %llu | %llu | %.2f |\n", fs::path(p).filename().c_str(),
                  static_cast<unsigned long long>(tok.vocab_size()), static_cast<unsigned long long>(file),
                  static_cast<unsigned long long>(held), file ? static_cast<double>(held) / file : 0.0);
    } catch (const std::exception& e) {
      std::printf("| %s | error: %s | | | |\n", fs::path(p).filename().c_str(), e.what());
    }
  }
  return 0;
}
