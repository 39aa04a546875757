// `generate --chat` / `-i`: turns of a conversation on one loaded model, the KV cache kept
// between them.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/chat_session.h"
#include "runtime/generate.h"
#include "runtime/model.h"
#include "tokenizer/tokenizer.h"

namespace mlxcel::cli {

struct ChatTotals {
  uint64_t prompt_tokens = 0;  // ids prefilled over all turns (reused ones excluded)
  uint64_t reused_tokens = 0;  // ids kept in the KV cache from earlier turns
  uint64_t generated_tokens = 0;
  double prompt_seconds = 0, decode_seconds = 0;
  bool context_full = false;
  nlohmann::ordered_json turns = nlohmann::ordered_json::array();
};

// Runs `first` (the rendered first turn, may be empty when interactive) and then, when
// `interactive`, one turn per line of stdin until EOF or "/exit". Replies stream to stdout unless
// `quiet`; a line per turn on stderr says how much of the prompt came from the cache.
ChatTotals run_chat(runtime::Model& model, const Tokenizer& tokenizer, runtime::ChatSession& session,
                    const std::vector<int32_t>& first, runtime::GenerateOptions options, bool interactive,
                    bool quiet);

}  // namespace mlxcel::cli
