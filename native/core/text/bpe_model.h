// Byte-pair encoding of one pre-tokenized word, as the tokenizers library's
// BPE model does it with end_of_word_suffix "</w>" and no dropout: the word's
// byte-level characters (the last one with "</w>") are looked up in the
// vocabulary (missing ones become the unknown token, one each), then the
// adjacent pair with the lowest merge rank is merged until none is left.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace spo::text {

struct BpeMerge {
  std::string left, right;
  std::size_t line = 0;  // in the merges file, for error messages
};

class BpeModel {
 public:
  // Throws InvalidArgument when a merge's parts or result, or the unknown
  // token, are not in the vocabulary (tokenizers refuses these too).
  BpeModel(std::unordered_map<std::string, std::int64_t> vocab, const std::vector<BpeMerge>& merges,
           const std::string& unk_token, const std::string& merges_source);

  // Appends the ids of `word` (no whitespace, already normalized) to `out`.
  void encode_word(const std::u32string& word, std::vector<std::int64_t>& out) const;

  const std::unordered_map<std::string, std::int64_t>& vocab() const { return vocab_; }
  std::int64_t unk_id() const { return unk_id_; }

 private:
  struct MergeResult {
    std::size_t rank;
    std::int64_t merged_id;
  };
  static std::uint64_t pair_key(std::int64_t left, std::int64_t right) {
    return (static_cast<std::uint64_t>(left) << 32) | static_cast<std::uint32_t>(right);
  }
  std::vector<std::int64_t> merge_word(const std::u32string& word) const;

  std::unordered_map<std::string, std::int64_t> vocab_;
  std::unordered_map<std::uint64_t, MergeResult> merges_;
  std::int64_t unk_id_;

  // Words repeat a lot across prompts; the cache is bounded and thread-safe.
  static constexpr std::size_t kCacheLimit = 20000;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::u32string, std::vector<std::int64_t>> cache_;
};

}  // namespace spo::text
