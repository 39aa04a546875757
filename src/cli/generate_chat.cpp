#include "cli/generate_chat.h"

#include <fmt/format.h>
#include <unistd.h>

#include <iostream>
#include <string>

namespace mlxcel::cli {

ChatTotals run_chat(runtime::Model& model, const Tokenizer& tokenizer, runtime::ChatSession& session,
                    const std::vector<int32_t>& first, runtime::GenerateOptions options, bool interactive,
                    bool quiet) {
  ChatTotals totals;
  std::vector<int32_t> in_cache;  // the ids sequence options.seq holds, in order
  options.extra_stops = session.end_of_turn_tokens();
  // One assistant turn for the conversation rendered as `ids`; false once the context is full.
  auto turn = [&](const std::vector<int32_t>& ids) {
    if (ids.size() >= model.context()) {
      fmt::print(stderr, "[chat] the conversation is {} tokens and the context {}: it is full; raise --ctx-size "
                         "for a longer one\n",
                 ids.size(), model.context());
      totals.context_full = true;
      return false;
    }
    // Keep what the cache shares with the new rendering; at least one id must run for logits.
    uint64_t keep = std::min<uint64_t>(runtime::common_prefix(in_cache, ids), ids.size() - 1);
    if (keep > 0 && !model.truncate(options.seq, keep)) keep = 0;
    options.cached = keep;
    std::string reply;
    const runtime::GenerateResult r = runtime::generate(model, tokenizer, ids, options, [&](std::string_view piece) {
      reply.append(piece);
      if (quiet) return;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    });
    if (!quiet) {
      std::fputs("\n", stdout);
      std::fflush(stdout);
    }
    session.add_assistant(reply);
    in_cache = ids;
    in_cache.insert(in_cache.end(), r.tokens.begin(), r.tokens.end());
    in_cache.resize(model.length(options.seq));
    totals.prompt_tokens += r.prompt_tokens;
    totals.reused_tokens += keep;
    totals.generated_tokens += r.tokens.size();
    totals.prompt_seconds += r.prompt_seconds;
    totals.decode_seconds += r.decode_seconds;
    totals.turns.push_back({{"prompt_tokens", ids.size()}, {"reused_tokens", keep},
                            {"generated_tokens", r.tokens.size()}, {"text", reply}});
    fmt::print(stderr, "[chat] turn {}: prompt {} tokens ({} reused from the KV cache), reply {} tokens{}\n",
               totals.turns.size(), ids.size(), keep, r.tokens.size(),
               r.stopped_at_context ? "; the context is full" : "");
    totals.context_full = r.stopped_at_context;
    return !r.stopped_at_context;
  };
  if (!first.empty() && !turn(first)) return totals;
  if (!interactive) return totals;
  const bool tty = ::isatty(STDIN_FILENO) != 0;
  std::string line;
  while (true) {
    if (tty) {
      fmt::print(stderr, "> ");
      std::fflush(stderr);
    }
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line.empty()) continue;
    if (!turn(session.prompt_after_user(line))) break;
  }
  return totals;
}

}  // namespace mlxcel::cli
