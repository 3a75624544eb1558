// CLIP tokenizer: exact ids against transformers' CLIPTokenizer (fixtures from
// test/python/make_text_fixtures.py), plus CLIP rules and error cases that
// need no Python.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/errors.h"
#include "text/clip_pre_tokenizer.h"
#include "text/clip_tokenizer.h"
#include "text/utf8.h"

namespace {

using spo::text::ClipTokenizer;
using Ids = std::vector<std::int64_t>;

const std::string kFixtures = std::string(SPO_FIXTURE_ROOT) + "/text";

nlohmann::json load_cases() {
  std::ifstream in(kFixtures + "/cases.json");
  EXPECT_TRUE(in.good()) << "missing " << kFixtures << "/cases.json (run ctest, which makes the fixtures first)";
  return nlohmann::json::parse(in);
}

void check_against_transformers(const std::string& name) {
  const nlohmann::json all = load_cases();
  const nlohmann::json& expected = all.at(name);
  const ClipTokenizer tokenizer = ClipTokenizer::from_directory(kFixtures + "/" + name);
  EXPECT_EQ(tokenizer.bos_id(), expected.at("bos_id").get<std::int64_t>());
  EXPECT_EQ(tokenizer.eos_id(), expected.at("eos_id").get<std::int64_t>());
  EXPECT_EQ(tokenizer.pad_id(), expected.at("pad_id").get<std::int64_t>());
  EXPECT_EQ(tokenizer.vocab_size(), expected.at("vocab_size").get<std::int64_t>());
  EXPECT_EQ(tokenizer.model_max_length(), 77);
  ASSERT_GE(expected.at("cases").size(), 40u);
  std::vector<std::string> prompts;
  for (const auto& c : expected.at("cases")) {
    const std::string prompt = c.at("prompt").get<std::string>();
    prompts.push_back(prompt);
    EXPECT_EQ(tokenizer.encode(prompt), c.at("ids").get<Ids>()) << name << ": \"" << prompt << "\"";
    EXPECT_EQ(tokenizer.encode_padded(prompt), c.at("input_ids").get<Ids>()) << name << ": \"" << prompt << "\"";
  }
  // The batch form gives the same rows.
  const at::Tensor batch = tokenizer.encode_batch(prompts);
  ASSERT_EQ(batch.sizes(), (at::IntArrayRef{static_cast<std::int64_t>(prompts.size()), 77}));
  ASSERT_EQ(batch.scalar_type(), at::kLong);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const Ids expected_row = expected.at("cases")[i].at("input_ids").get<Ids>();
    const at::Tensor row = batch[static_cast<std::int64_t>(i)].contiguous();
    EXPECT_EQ(Ids(row.data_ptr<std::int64_t>(), row.data_ptr<std::int64_t>() + 77), expected_row) << prompts[i];
  }
}

TEST(ClipTokenizerTransformers, Sd15LayoutMatchesEveryPrompt) { check_against_transformers("clip"); }
TEST(ClipTokenizerTransformers, SdxlPadBangMatchesEveryPrompt) { check_against_transformers("clip_pad_bang"); }
TEST(ClipTokenizerTransformers, LegacyConfigMatchesEveryPrompt) { check_against_transformers("clip_legacy"); }

// NFC + whitespace + lower-casing over every composable and case-mapped char.
TEST(ClipTokenizerTransformers, NormalizerMatchesTokenizers) {
  const nlohmann::json all = load_cases();
  ASSERT_GT(all.at("normalization").size(), 100u);
  for (const auto& c : all.at("normalization")) {
    const std::string text = c.at("text").get<std::string>();
    const std::string got =
        spo::text::encode_utf8(spo::text::normalize_clip_text(spo::text::decode_utf8(text, "test")));
    EXPECT_EQ(got, c.at("normalized").get<std::string>()) << text;
  }
}

// ---- A hand-made vocabulary: CLIP rules checked without Python. ----

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("spo_clip_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
    return (path_ / name).string();
  }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// ids: a=0 ... z=25, a</w>=26 ... z</w>=51, at</w>=52, cat</w>=53, !</w>=54,
// <|startoftext|>=55, <|endoftext|>=56. Without z, "z" and "z</w>" are left out.
std::string tiny_vocab_json(bool with_z = true) {
  nlohmann::json vocab = nlohmann::json::object();
  std::int64_t id = 0;
  for (const std::string suffix : {"", "</w>"}) {
    for (char c = 'a'; c <= 'z'; ++c, ++id) {
      if (with_z || c != 'z') vocab[std::string(1, c) + suffix] = id;
    }
  }
  for (const char* token : {"at</w>", "cat</w>", "!</w>", "<|startoftext|>", "<|endoftext|>"}) vocab[token] = id++;
  return vocab.dump();
}
const std::string kTinyMerges = "#version: 0.2\na t</w>\nc at</w>\n";

ClipTokenizer tiny_tokenizer(const TempDir& dir, bool with_z = true) {
  return ClipTokenizer::from_files(dir.write("vocab.json", tiny_vocab_json(with_z)),
                                   dir.write("merges.txt", kTinyMerges));
}

TEST(ClipTokenizerRules, MergesWithEndOfWordMarker) {
  TempDir dir;
  const ClipTokenizer t = tiny_tokenizer(dir);
  EXPECT_EQ(t.encode("cat"), Ids{53});  // c + at</w> -> cat</w>
  // "at" only merges at the end of a word: "cats" stays c a t s</w>.
  EXPECT_EQ(t.encode("cats"), (Ids{2, 0, 19, 26 + 18}));
  EXPECT_EQ(t.encode("a cat"), (Ids{26, 53}));
  EXPECT_EQ(t.encode("cat!"), (Ids{53, 54}));  // punctuation is a word of its own
}

TEST(ClipTokenizerRules, LowerCasesAndCleansWhitespace) {
  TempDir dir;
  const ClipTokenizer t = tiny_tokenizer(dir);
  EXPECT_EQ(t.encode("CAT"), t.encode("cat"));
  EXPECT_EQ(t.encode("  a\t\t\ncat \r\n "), t.encode("a cat"));
  EXPECT_TRUE(t.encode("").empty());
  EXPECT_TRUE(t.encode(" \t\n").empty());
}

TEST(ClipTokenizerRules, PadsTo77WithBosAndEos) {
  TempDir dir;
  const ClipTokenizer t = tiny_tokenizer(dir);
  EXPECT_EQ(t.bos_id(), 55);
  EXPECT_EQ(t.eos_id(), 56);
  EXPECT_EQ(t.pad_id(), 56);
  const Ids padded = t.encode_padded("a cat");
  ASSERT_EQ(padded.size(), 77u);
  EXPECT_EQ(Ids(padded.begin(), padded.begin() + 4), (Ids{55, 26, 53, 56}));
  for (std::size_t i = 4; i < 77; ++i) EXPECT_EQ(padded[i], 56);
  EXPECT_EQ(t.encode_padded(""), [] { Ids v(77, 56); v[0] = 55; return v; }());
}

TEST(ClipTokenizerRules, TruncationKeepsEosLast) {
  TempDir dir;
  const ClipTokenizer t = tiny_tokenizer(dir);
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += "cat ";
  const Ids padded = t.encode_padded(long_prompt);
  ASSERT_EQ(padded.size(), 77u);
  EXPECT_EQ(padded.front(), t.bos_id());
  EXPECT_EQ(padded.back(), t.eos_id());
  for (std::size_t i = 1; i < 76; ++i) EXPECT_EQ(padded[i], 53);
  const Ids short_ids = t.encode_padded(long_prompt, 8);
  EXPECT_EQ(short_ids, (Ids{55, 53, 53, 53, 53, 53, 53, 56}));
  EXPECT_THROW(t.encode_padded("cat", 1), spo::InvalidArgument);
}

TEST(ClipTokenizerRules, SpecialTokensInThePromptKeepTheirIds) {
  TempDir dir;
  const ClipTokenizer t = tiny_tokenizer(dir);
  EXPECT_EQ(t.encode("cat<|endoftext|>a"), (Ids{53, 56, 26}));
  EXPECT_EQ(t.encode("<|startoftext|>"), (Ids{55}));
}

TEST(ClipTokenizerRules, UnknownCharactersBecomeTheUnknownToken) {
  TempDir dir;
  const ClipTokenizer t = tiny_tokenizer(dir, /*with_z=*/false);
  EXPECT_EQ(t.unk_id(), t.eos_id());  // CLIP's unk is <|endoftext|>
  // No "z" or "z</w>": each unknown symbol is one unk id (no fusing).
  const std::int64_t unk = t.unk_id();
  EXPECT_EQ(t.encode("zz"), (Ids{unk, unk}));
  EXPECT_EQ(t.encode("é"), (Ids{unk, unk}));  // two UTF-8 bytes, neither in this vocab
}

TEST(ClipTokenizerRules, BatchIsInt64BxMaxLength) {
  TempDir dir;
  const ClipTokenizer t = tiny_tokenizer(dir);
  const at::Tensor ids = t.encode_batch({"cat", "a cat", ""}, 5);
  EXPECT_EQ(ids.sizes(), (at::IntArrayRef{3, 5}));
  EXPECT_EQ(ids.scalar_type(), at::kLong);
  EXPECT_EQ(ids[1][1].item<std::int64_t>(), 26);
  EXPECT_EQ(t.encode_batch({}, 77).sizes(), (at::IntArrayRef{0, 77}));
}

TEST(ClipTokenizerRules, OptionsFromDirectory) {
  TempDir dir;
  dir.write("vocab.json", tiny_vocab_json());
  dir.write("merges.txt", kTinyMerges);
  dir.write("tokenizer_config.json", R"({"model_max_length": 77, "pad_token": "!</w>"})");
  const ClipTokenizer t = ClipTokenizer::from_directory(dir.str());
  EXPECT_EQ(t.pad_id(), 54);
  EXPECT_EQ(t.encode_padded("cat", 4), (Ids{55, 53, 56, 54}));
}

// ---- Refusals: clear errors, never a crash. ----

template <typename F>
std::string error_of(F f, spo::ErrorCode code) {
  try {
    f();
  } catch (const spo::Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no spo::Error thrown";
  return "";
}

TEST(ClipTokenizerErrors, MissingFiles) {
  TempDir dir;
  const std::string msg =
      error_of([&] { ClipTokenizer::from_directory(dir.str()); }, spo::ErrorCode::NotFound);
  EXPECT_NE(msg.find("vocab.json"), std::string::npos) << msg;
  dir.write("vocab.json", tiny_vocab_json());
  EXPECT_NE(error_of([&] { ClipTokenizer::from_directory(dir.str()); }, spo::ErrorCode::NotFound).find("merges.txt"),
            std::string::npos);
}

TEST(ClipTokenizerErrors, MalformedVocab) {
  TempDir dir;
  const std::string merges = dir.write("merges.txt", kTinyMerges);
  for (const std::string bad : {"{\"a\": 0,", "[1, 2]", "{}", "{\"a\": \"zero\"}", "{\"a\": 1.5}"}) {
    const std::string vocab = dir.write("vocab.json", bad);
    const std::string msg =
        error_of([&] { ClipTokenizer::from_files(vocab, merges); }, spo::ErrorCode::InvalidArgument);
    EXPECT_NE(msg.find("vocab.json"), std::string::npos) << msg;
  }
}

TEST(ClipTokenizerErrors, BadMergesLines) {
  TempDir dir;
  const std::string vocab = dir.write("vocab.json", tiny_vocab_json());
  for (const std::string bad : {"#version: 0.2\na t</w>\nc at</w> x\n", "#version: 0.2\na t</w>\n\nc at</w>\n",
                                "#version: 0.2\na t</w>\nsingle\n"}) {
    const std::string merges = dir.write("merges.txt", bad);
    const std::string msg =
        error_of([&] { ClipTokenizer::from_files(vocab, merges); }, spo::ErrorCode::InvalidArgument);
    EXPECT_NE(msg.find("merges.txt line 3"), std::string::npos) << msg;
  }
  // A merge whose result is not in the vocabulary.
  const std::string merges = dir.write("merges.txt", "#version: 0.2\nq u\n");
  const std::string msg = error_of([&] { ClipTokenizer::from_files(vocab, merges); }, spo::ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"qu\""), std::string::npos) << msg;
  // CRLF line ends are fine.
  EXPECT_NO_THROW(ClipTokenizer::from_files(vocab, dir.write("merges.txt", "#version: 0.2\r\na t</w>\r\n")));
}

TEST(ClipTokenizerErrors, SpecialTokensMustBeInTheVocabulary) {
  TempDir dir;
  const std::string vocab = dir.write("vocab.json", tiny_vocab_json());
  const std::string merges = dir.write("merges.txt", kTinyMerges);
  spo::text::ClipTokenizerOptions options;
  options.pad_token = "<pad>";
  EXPECT_NE(error_of([&] { ClipTokenizer::from_files(vocab, merges, options); }, spo::ErrorCode::InvalidArgument)
                .find("<pad>"),
            std::string::npos);
  options = {};
  options.unk_token = "<unk>";
  EXPECT_THROW(ClipTokenizer::from_files(vocab, merges, options), spo::InvalidArgument);
}

TEST(ClipTokenizerErrors, MalformedConfig) {
  TempDir dir;
  dir.write("vocab.json", tiny_vocab_json());
  dir.write("merges.txt", kTinyMerges);
  dir.write("tokenizer_config.json", "{\"pad_token\": ");
  EXPECT_NE(error_of([&] { ClipTokenizer::from_directory(dir.str()); }, spo::ErrorCode::InvalidArgument)
                .find("tokenizer_config.json"),
            std::string::npos);
  dir.write("tokenizer_config.json", R"({"pad_token": 7})");
  EXPECT_THROW(ClipTokenizer::from_directory(dir.str()), spo::InvalidArgument);
}

TEST(ClipTokenizerErrors, InvalidUtf8PromptIsRefused) {
  TempDir dir;
  const ClipTokenizer t = tiny_tokenizer(dir);
  for (const std::string bad : {std::string("cat\xff"), std::string("\xc3"), std::string("\xc0\xaf"),
                                std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"), std::string("a\x80")}) {
    const std::string msg = error_of([&] { t.encode(bad); }, spo::ErrorCode::InvalidArgument);
    EXPECT_NE(msg.find("invalid UTF-8 at byte"), std::string::npos) << msg;
  }
  EXPECT_NE(error_of([&] { t.encode_padded("cat\xff"); }, spo::ErrorCode::InvalidArgument).find("byte 3"),
            std::string::npos);
}

}  // namespace
