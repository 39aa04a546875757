#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include <fmt/format.h>

#include "core/utf8.h"
#include "mlxcel/errors.h"

namespace mlxcel::tok {

struct Regex::Impl {
  pcre2_code* code = nullptr;
  ~Impl() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

std::string pcre2_message(int rc) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(rc, buf, sizeof buf);
  return n < 0 ? fmt::format("PCRE2 error {}", rc) : std::string(reinterpret_cast<char*>(buf));
}

struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(const pcre2_code* code) : md(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (!md) throw std::bad_alloc();
  }
  ~MatchData() { pcre2_match_data_free(md); }
};

// A bigger JIT stack for the rare subject that overflows the default 32 KiB one.
struct JitStack {
  pcre2_jit_stack* stack = nullptr;
  pcre2_match_context* ctx = nullptr;
  JitStack() {
    stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, nullptr);
    ctx = pcre2_match_context_create(nullptr);
    if (!stack || !ctx) throw std::bad_alloc();
    pcre2_jit_stack_assign(ctx, nullptr, stack);
  }
  ~JitStack() {
    if (ctx) pcre2_match_context_free(ctx);
    if (stack) pcre2_jit_stack_free(stack);
  }
};

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where)
    : pattern_(pattern), impl_(std::make_unique<Impl>()) {
  pcre2_compile_context* cctx = pcre2_compile_context_create(nullptr);
  if (!cctx) throw std::bad_alloc();
  pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &err_offset, cctx);
  pcre2_compile_context_free(cctx);
  if (!impl_->code) {
    throw FormatError("tokenizer", fmt::format("cannot compile regex ({}, pattern {:?}, at offset {}: {})",
                                               where, pattern, err_offset, pcre2_message(err)));
  }
  // JIT is an optimisation only: when unavailable pcre2_match interprets the pattern.
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() = default;

void Regex::find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& out) const {
  MatchData md(impl_->code);
  std::unique_ptr<JitStack> big_stack;
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t start = 0;
  while (start <= subject.size()) {
    int rc = pcre2_match(impl_->code, s, subject.size(), start, PCRE2_NO_UTF_CHECK, md.md,
                         big_stack ? big_stack->ctx : nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !big_stack) {
      big_stack = std::make_unique<JitStack>();
      continue;
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      throw FormatError("tokenizer", fmt::format("regex match failed (pattern {:?}, at byte {}: {})",
                                                 pattern_, start, pcre2_message(rc)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.md);
    const size_t b = ov[0], e = ov[1];
    out.emplace_back(b, e);
    if (e > b) {
      start = e;
    } else {
      if (e >= subject.size()) break;
      start = e + utf8_char_len(static_cast<unsigned char>(subject[e]));
    }
  }
}

}  // namespace mlxcel::tok
