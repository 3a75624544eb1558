// The CLIP BPE tokenizer, matching transformers 5's CLIPTokenizer (the
// tokenizers-backed class: in transformers 5 there is no slow Python CLIP
// tokenizer and no ftfy / BasicTokenizer fallback any more; the clean-up is
// NFC + whitespace runs to one space + lower-casing, see clip_pre_tokenizer.h).
//
// encode(): special tokens declared by the directory (bos/eos/unk/pad, e.g.
// "<|endoftext|>", or "!" for SDXL's tokenizer_2) are split out first, then
// normalization, CLIP word splitting, byte-level mapping and BPE per word.
// Prompts must be valid UTF-8: anything else is refused with InvalidArgument.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "text/bpe_model.h"
#include "text/clip_tokenizer_files.h"

namespace spo::text {

class ClipTokenizer {
 public:
  // vocab.json + merges.txt, and tokenizer_config.json /
  // special_tokens_map.json when present.
  static ClipTokenizer from_directory(const std::string& dir);
  static ClipTokenizer from_files(const std::string& vocab_json, const std::string& merges_txt,
                                  const ClipTokenizerOptions& options = {});
  // From parsed files (parse_vocab_json, parse_merges_txt); `merges_source` names merges.txt in messages.
  static ClipTokenizer from_parsed(std::unordered_map<std::string, std::int64_t> vocab,
                                   const std::vector<BpeMerge>& merges, const ClipTokenizerOptions& options,
                                   const std::string& merges_source);

  // Token ids without BOS/EOS/padding.
  std::vector<std::int64_t> encode(const std::string& text) const;

  // [BOS] + ids[:max_length-2] + [EOS] + [PAD]..., exactly max_length long, as
  // tokenizer(text, padding="max_length", max_length=..., truncation=True).
  std::vector<std::int64_t> encode_padded(const std::string& text, std::int64_t max_length = 77) const;

  // encode_padded of each text, as an int64 CPU tensor [texts.size(), max_length].
  at::Tensor encode_batch(const std::vector<std::string>& texts, std::int64_t max_length = 77) const;

  std::int64_t bos_id() const { return bos_id_; }
  std::int64_t eos_id() const { return eos_id_; }
  std::int64_t pad_id() const { return pad_id_; }
  std::int64_t unk_id() const { return model_->unk_id(); }
  std::int64_t vocab_size() const { return static_cast<std::int64_t>(model_->vocab().size()); }
  std::int64_t model_max_length() const { return model_max_length_; }

 private:
  struct SpecialToken {
    std::u32string text;  // normalized already when matched in normalized text
    std::int64_t id;
  };
  ClipTokenizer() = default;
  std::int64_t id_of(const std::string& token, const std::string& role) const;
  void encode_normalized_segment(const std::u32string& segment, std::vector<std::int64_t>& out) const;
  void encode_raw_segment(const std::u32string& segment, std::vector<std::int64_t>& out) const;

  std::shared_ptr<const BpeModel> model_;  // shared: the tokenizer is cheap to copy
  std::vector<SpecialToken> raw_specials_, normalized_specials_;
  std::int64_t bos_id_ = 0, eos_id_ = 0, pad_id_ = 0, model_max_length_ = 77;
};

}  // namespace spo::text
