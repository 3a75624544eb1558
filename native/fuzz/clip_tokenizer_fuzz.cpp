// A whole CLIP tokenizer directory from one input: vocab.json, merges.txt,
// tokenizer_config.json, special_tokens_map.json (an empty part: the file is
// absent) and a prompt, parsed, assembled and used to encode the prompt.
#include <algorithm>

#include "fuzz_support.h"
#include "text/clip_tokenizer.h"
#include "text/clip_tokenizer_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = spo::fuzz::split_parts(data, size, 5);
  spo::fuzz::expect_typed_errors([&] {
    auto vocab = spo::text::parse_vocab_json(parts[0], "vocab.json");
    const auto merges = spo::text::parse_merges_txt(parts[1], "merges.txt");
    const auto options = spo::text::parse_tokenizer_options(parts[2].empty() ? nullptr : &parts[2], "tokenizer_config.json",
                                                            parts[3].empty() ? nullptr : &parts[3], "special_tokens_map.json");
    const auto tokenizer = spo::text::ClipTokenizer::from_parsed(std::move(vocab), merges, options, "merges.txt");
    const int64_t length = std::min<int64_t>(tokenizer.model_max_length(), 256);
    const auto ids = tokenizer.encode_padded(parts[4], length);
    if (static_cast<int64_t>(ids.size()) != length) spo::fuzz::fail("padded length");
    for (int64_t id : ids) {
      if (id < 0) spo::fuzz::fail("negative token id");
    }
  });
  return 0;
}
