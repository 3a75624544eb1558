// Tokenizer files from strangers (issue 8): size limits checked before
// reading, and the in-memory parsers (what the fuzz target drives) giving the
// same results and errors as the file readers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>

#include "runtime/errors.h"
#include "../error_of.h"
#include "text/clip_tokenizer.h"
#include "text/clip_tokenizer_files.h"

namespace spo::text {
namespace {

namespace fs = std::filesystem;

struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("spo-tok-limits-" + std::to_string(::getpid()));
  Scratch() { fs::create_directories(dir); }
  ~Scratch() { fs::remove_all(dir); }
  std::string put(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name, std::ios::binary) << text;
    return (dir / name).string();
  }
};

using test_util::error_of;

TEST(TokenizerFileLimits, OversizedFilesAreRefusedBeforeReading) {
  Scratch s;
  const std::string vocab = s.put("vocab.json", "{}");
  ASSERT_EQ(::truncate(vocab.c_str(), 65ll << 20), 0);  // sparse: nothing is written
  EXPECT_NE(error_of([&] { read_vocab_json(vocab); }).find("at most 64 MiB"), std::string::npos);
  const std::string merges = s.put("merges.txt", "a b\n");
  ASSERT_EQ(::truncate(merges.c_str(), 65ll << 20), 0);
  EXPECT_NE(error_of([&] { read_merges_txt(merges); }).find("at most 64 MiB"), std::string::npos);
}

TEST(TokenizerFileLimits, InMemoryParsersMatchTheFileReaders) {
  Scratch s;
  const std::string vocab_text = R"({"a": 0, "b": 1, "ab</w>": 2, "b</w>": 3, "<|endoftext|>": 4, "<|startoftext|>": 5})";
  const std::string merges_text = "#version: 0.2\na b</w>\n";
  const auto from_text =
      ClipTokenizer::from_parsed(parse_vocab_json(vocab_text, "v"), parse_merges_txt(merges_text, "m"), {}, "m");
  const auto from_files = ClipTokenizer::from_files(s.put("vocab.json", vocab_text), s.put("merges.txt", merges_text));
  EXPECT_EQ(from_text.encode("ab"), (std::vector<int64_t>{2}));
  EXPECT_EQ(from_files.encode("ab"), from_text.encode("ab"));
  EXPECT_EQ(from_text.encode_padded("ab b", 6), (std::vector<int64_t>{5, 2, 3, 4, 4, 4}));

  EXPECT_EQ(error_of([&] { parse_merges_txt("a b\na  b\n", "mem.txt"); }),
            "mem.txt line 2: expected two tokens separated by one space, got \"a  b\"");
  const std::string config = R"({"model_max_length": 32, "bos_token": {"content": "<s>", "normalized": true}})";
  const auto options = parse_tokenizer_options(&config, "tokenizer_config.json", nullptr, "special_tokens_map.json");
  EXPECT_EQ(options.model_max_length, 32);
  EXPECT_EQ(options.bos_token, "<s>");
  const std::string list = "[1]";
  EXPECT_EQ(error_of([&] { parse_tokenizer_options(nullptr, "c", &list, "map.json"); }),
            "map.json: expected a JSON object");
}

}  // namespace
}  // namespace spo::text
