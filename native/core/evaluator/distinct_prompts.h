// The distinct prompts of a batch, in first-seen order, and each row's index
// among them: the text tower runs once per distinct prompt (a sampling round
// scores P prompts x k candidates), then every row takes its prompt's features
// with index_select(0, row_of).
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

namespace spo::evaluator {

struct DistinctPrompts {
  std::vector<std::string> prompts;
  std::vector<int64_t> row_of;
};

inline DistinctPrompts distinct_prompts(const std::vector<std::string>& prompts) {
  DistinctPrompts out;
  std::unordered_map<std::string, int64_t> index;
  for (const auto& p : prompts) {
    const auto [it, fresh] = index.emplace(p, static_cast<int64_t>(out.prompts.size()));
    if (fresh) out.prompts.push_back(p);
    out.row_of.push_back(it->second);
  }
  return out;
}

}  // namespace spo::evaluator
