#include "text/bpe_model.h"

#include <limits>

#include "runtime/errors.h"
#include "text/byte_level.h"

namespace spo::text {

BpeModel::BpeModel(std::unordered_map<std::string, std::int64_t> vocab, const std::vector<BpeMerge>& merges,
                   const std::string& unk_token, const std::string& merges_source)
    : vocab_(std::move(vocab)) {
  const auto id_of = [&](const std::string& token, const BpeMerge& merge) {
    auto it = vocab_.find(token);
    require(it != vocab_.end(), merges_source + " line " + std::to_string(merge.line) + ": token \"" + token +
                                    "\" of merge \"" + merge.left + " " + merge.right + "\" is not in the vocabulary");
    return it->second;
  };
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const BpeMerge& m = merges[rank];
    const std::uint64_t key = pair_key(id_of(m.left, m), id_of(m.right, m));
    // A repeated merge keeps its first (best) rank.
    merges_.emplace(key, MergeResult{rank, id_of(m.left + m.right, m)});
  }
  auto unk = vocab_.find(unk_token);
  require(unk != vocab_.end(), "the unknown token \"" + unk_token + "\" is not in the vocabulary");
  unk_id_ = unk->second;
  for (const auto& [token, id] : vocab_) {
    require(id >= 0 && id <= std::numeric_limits<std::int32_t>::max(),
            "vocabulary id " + std::to_string(id) + " of \"" + token + "\" is out of range");
  }
}

std::vector<std::int64_t> BpeModel::merge_word(const std::u32string& word) const {
  std::vector<std::string> symbols = byte_level_symbols(word);
  if (symbols.empty()) return {};
  symbols.back() += "</w>";
  std::vector<std::int64_t> ids;
  ids.reserve(symbols.size());
  for (const std::string& s : symbols) {
    auto it = vocab_.find(s);
    ids.push_back(it == vocab_.end() ? unk_id_ : it->second);
  }
  // Merge the lowest-ranked adjacent pair, leftmost first, until none applies.
  // (Words are short; the quadratic scan is cheaper than a heap here.)
  while (ids.size() > 1) {
    std::size_t best_pos = 0;
    const MergeResult* best = nullptr;
    for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
      auto it = merges_.find(pair_key(ids[i], ids[i + 1]));
      if (it != merges_.end() && (best == nullptr || it->second.rank < best->rank)) {
        best = &it->second;
        best_pos = i;
      }
    }
    if (best == nullptr) break;
    ids[best_pos] = best->merged_id;
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
  return ids;
}

void BpeModel::encode_word(const std::u32string& word, std::vector<std::int64_t>& out) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::int64_t> ids = merge_word(word);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_.emplace(word, std::move(ids));
}

}  // namespace spo::text
