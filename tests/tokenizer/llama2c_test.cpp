// llama2.c tokenizer: the loader and the Hugging Face export must both encode exactly like
// llama2.c's own encode() (re-implemented below from run.c's algorithm, straight over tok512.bin),
// and decode the reference greedy generation to its text.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "mlxcel/errors.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

using namespace mlxcel;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// llama2.c run.c, build_tokenizer() + encode(): an independent reference.
class Llama2cReference {
 public:
  explicit Llama2cReference(const std::string& path) {
    const std::string b = slurp(path);
    size_t off = 4;  // max_token_length
    while (off + 8 <= b.size()) {
      float score;
      int32_t len;
      std::memcpy(&score, b.data() + off, 4);
      std::memcpy(&len, b.data() + off + 4, 4);
      off += 8;
      vocab_.emplace_back(b.data() + off, static_cast<size_t>(len));
      scores_.push_back(score);
      off += static_cast<size_t>(len);
    }
    for (size_t i = 0; i < vocab_.size(); ++i) lookup_.emplace(vocab_[i], static_cast<int>(i));
  }

  std::vector<int32_t> encode(const std::string& text, bool bos) const {
    std::vector<int32_t> t;
    if (bos) t.push_back(1);
    if (!text.empty()) t.push_back(find(" "));
    std::string buf;
    for (size_t i = 0; i < text.size(); ++i) {
      // Bytes accumulate until the next byte is not a continuation byte (or 4 are held).
      if ((text[i] & 0xC0) != 0x80) buf.clear();
      buf += text[i];
      if (i + 1 < text.size() && (text[i + 1] & 0xC0) == 0x80 && buf.size() < 4) continue;
      const int id = find(buf);
      if (id != -1) {
        t.push_back(id);
      } else {
        for (unsigned char c : buf) t.push_back(c + 3);
      }
      buf.clear();
    }
    while (true) {
      float best_score = -1e10f;
      int best_id = -1, best_idx = -1;
      for (size_t i = 0; i + 1 < t.size(); ++i) {
        const int id = find(vocab_[t[i]] + vocab_[t[i + 1]]);
        if (id != -1 && scores_[id] > best_score) {
          best_score = scores_[id];
          best_id = id;
          best_idx = static_cast<int>(i);
        }
      }
      if (best_idx == -1) break;
      t[best_idx] = best_id;
      t.erase(t.begin() + best_idx + 1);
    }
    return t;
  }

  size_t size() const { return vocab_.size(); }

 private:
  int find(const std::string& s) const {
    auto it = lookup_.find(s);
    return it == lookup_.end() ? -1 : it->second;
  }
  std::vector<std::string> vocab_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int> lookup_;
};

std::string tok_bin() { return test::testdata("stories260K-llama2c/tok512.bin"); }

// The two sample generations quoted in stories260K.md.
std::vector<std::string> sample_texts() {
  const std::string md = slurp(test::testdata("stories260K-llama2c/stories260K.md"));
  std::vector<std::string> out;
  for (const char* start : {"Once upon a time, there was a little girl", "Once upon a time, there was a little boy"}) {
    const size_t b = md.find(start);
    const size_t e = md.find("\n```", b);
    if (b != std::string::npos && e != std::string::npos) out.push_back(md.substr(b, e - b));
  }
  return out;
}

}  // namespace

TEST(Llama2c, ReferenceSanity) {
  const Llama2cReference ref(tok_bin());
  ASSERT_EQ(ref.size(), 512u);
  // " " is the dummy prefix; "a" merges with it into " a" (id 261 in tok512: score -2).
  EXPECT_EQ(ref.encode("a", false), (std::vector<int32_t>{261}));
  ASSERT_EQ(sample_texts().size(), 2u);
}

TEST(Llama2c, LoaderEncodesLikeLlama2c) {
  const Llama2cReference ref(tok_bin());
  const Tokenizer tok = Tokenizer::from_llama2c(tok_bin());
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  for (const auto& text : sample_texts()) EXPECT_EQ(tok.encode(text), ref.encode(text, true));
  // Characters outside the 512 pieces fall back to bytes (id = byte + 3).
  for (const std::string text : {"", "x", "  two  spaces ", "naïve café ☃ 🦙", "tabs\tand\nnewlines\n\n", "Ω≈ç√∫"}) {
    EXPECT_EQ(tok.encode(text), ref.encode(text, true)) << text;
  }
}

TEST(Llama2c, ExportedTokenizerJsonEncodesLikeLlama2c) {
  const Llama2cReference ref(tok_bin());
  test::TempDir dir;
  export_llama2c_tokenizer(tok_bin(), dir.path().string());
  const Tokenizer tok = Tokenizer::from_path(dir.path().string());
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_TRUE(tok.adds_bos());
  for (const auto& text : sample_texts()) {
    EXPECT_EQ(tok.encode(text), ref.encode(text, true));
    // BOS is kept unless skip_special; the decoder strips one leading space of the whole text only,
    // so the dummy prefix after "<s>" stays (as Hugging Face decodes it).
    EXPECT_EQ(tok.decode(tok.encode(text)), "<s> " + text);
    DecodeOptions skip;
    skip.skip_special = true;
    EXPECT_EQ(tok.decode(tok.encode(text), skip), text);
  }
  for (const std::string text : {"", "x", "  two  spaces ", "naïve café ☃ 🦙", "tabs\tand\nnewlines\n\n", "Ω≈ç√∫"}) {
    EXPECT_EQ(tok.encode(text), ref.encode(text, true)) << text;
  }
}

TEST(Llama2c, ExportedFilesUseSentencePieceConventions) {
  test::TempDir dir;
  export_llama2c_tokenizer(tok_bin(), dir.path().string());
  const auto tj = nlohmann::json::parse(slurp(dir.file("tokenizer.json")));
  const auto config = nlohmann::json::parse(slurp(dir.file("tokenizer_config.json")));
  EXPECT_EQ(tj["model"]["type"], "BPE");
  EXPECT_EQ(tj["model"]["byte_fallback"], true);
  EXPECT_EQ(tj["model"]["vocab"]["<s>"], 1);
  EXPECT_EQ(tj["model"]["vocab"]["</s>"], 2);
  EXPECT_EQ(tj["model"]["vocab"]["<0x0A>"], 13);       // byte 0x0A + 3
  EXPECT_EQ(tj["model"]["vocab"]["\u2581t"], 259);     // stored as " t", the first merge
  EXPECT_EQ(tj["model"]["merges"][0], nlohmann::json::array({"\u2581", "t"}));
  EXPECT_EQ(config["bos_token"], "<s>");
  EXPECT_EQ(config["eos_token"], "</s>");
  EXPECT_EQ(config["add_bos_token"], true);
}

TEST(Llama2c, DecodesTheReferenceGreedyGeneration) {
  const auto expected = nlohmann::json::parse(slurp(test::testdata("stories260K-llama2c/expected_greedy_from_bos.json")));
  const std::vector<int32_t> ids = expected["generated_ids"].get<std::vector<int32_t>>();
  const std::string text = expected["generated_text"].get<std::string>();
  ASSERT_EQ(ids.size(), 256u);
  ASSERT_EQ(text.rfind("Once upon a time, there was a little girl named Lily", 0), 0u);
  test::TempDir dir;
  export_llama2c_tokenizer(tok_bin(), dir.path().string());
  for (const Tokenizer& tok : {Tokenizer::from_llama2c(tok_bin()), Tokenizer::from_path(dir.path().string())}) {
    EXPECT_EQ(tok.decode(ids), text);
    StreamDecoder stream = tok.stream_decoder();
    std::string streamed;
    for (int32_t id : ids) streamed += stream.push(id);
    streamed += stream.flush();
    EXPECT_EQ(streamed, text);
  }
}

TEST(Llama2cMalformed, TruncatedTokenBytes) {
  test::TempDir dir;
  const std::string bytes = slurp(tok_bin());
  const std::string path = dir.file("tok.bin");
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() - 3);  // last piece cut short
  try {
    Tokenizer::from_llama2c(path);
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated token 511"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Llama2cMalformed, TruncatedEntryHeader) {
  test::TempDir dir;
  const std::string bytes = slurp(tok_bin());
  const std::string path = dir.file("tok.bin");
  // 4 header bytes + token 0 ("<unk>": 8 + 5 bytes) + 6 bytes of token 1's score/length.
  std::ofstream(path, std::ios::binary) << bytes.substr(0, 4 + 13 + 6);
  try {
    Tokenizer::from_llama2c(path);
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated entry for token 1"), std::string::npos) << e.what();
  }
}

TEST(Llama2cMalformed, OversizedTokenLength) {
  test::TempDir dir;
  std::string bytes = slurp(tok_bin());
  const int32_t huge = 1 << 30;
  std::memcpy(bytes.data() + 4 + 4, &huge, 4);  // token 0's length
  const std::string path = dir.file("tok.bin");
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    Tokenizer::from_llama2c(path);
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("token 0 length 1073741824"), std::string::npos) << e.what();
  }
}

TEST(Llama2cMalformed, MissingFileIsIoError) {
  EXPECT_THROW(Tokenizer::from_llama2c("/nonexistent/tok.bin"), IoError);
}
