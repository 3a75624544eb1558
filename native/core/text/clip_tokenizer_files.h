// Reading a Hugging Face CLIP tokenizer directory: vocab.json, merges.txt and
// the optional tokenizer_config.json / special_tokens_map.json. Every problem
// throws spo::Error (NotFound for a missing file, InvalidArgument otherwise)
// with the file path, and the line for merges.txt.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "text/bpe_model.h"

namespace spo::text {

// A token matched in the text before normalization/BPE (special tokens).
// `normalized`: matched in the normalized (NFC, lower-cased) text rather than
// the raw text, as the AddedToken flag of that name in transformers.
struct AddedToken {
  std::string content;
  bool normalized = false;
};

struct ClipTokenizerOptions {
  std::string bos_token = "<|startoftext|>";
  std::string eos_token = "<|endoftext|>";
  std::string unk_token = "<|endoftext|>";
  std::string pad_token = "<|endoftext|>";  // SDXL's tokenizer_2 uses "!"
  std::int64_t model_max_length = 77;
  // Tokens split out before BPE. Empty: bos, eos, unk and pad, matched in the
  // raw text (what transformers does when no config says otherwise).
  std::vector<AddedToken> added_tokens;
};

// Files are read whole, so each must be at most 64 MiB (CLIP's are ~1 MB).
std::unordered_map<std::string, std::int64_t> read_vocab_json(const std::string& path);
// The same on text in memory; `what` names its source in messages.
std::unordered_map<std::string, std::int64_t> parse_vocab_json(const std::string& text, const std::string& what);

// Lines "left right"; "#version..." lines are skipped, anything else that is
// not exactly two space-separated tokens is refused (like tokenizers does).
std::vector<BpeMerge> read_merges_txt(const std::string& path);
std::vector<BpeMerge> parse_merges_txt(const std::string& text, const std::string& what);

// Options from tokenizer_config.json and special_tokens_map.json in `dir`
// (both optional). The added tokens come from "added_tokens_decoder" when the
// config has it; otherwise from the bos/eos/unk/pad declarations in that
// order, a later one for the same text winning, a plain string meaning
// normalized=false and an object carrying its own "normalized" flag — this
// reproduces what transformers 5 loads from older SD-1.5 style configs.
ClipTokenizerOptions read_tokenizer_options(const std::string& dir);

// The same from the two files' text in memory; nullptr for an absent file.
ClipTokenizerOptions parse_tokenizer_options(const std::string* config_text, const std::string& config_what,
                                             const std::string* special_map_text, const std::string& map_what);

}  // namespace spo::text
