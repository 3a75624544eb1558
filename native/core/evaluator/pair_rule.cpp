#include "evaluator/pair_rule.h"

#include <cmath>
#include <string>

#include "runtime/errors.h"

namespace spo::evaluator {

double pair_margin(double winner_score, double loser_score) {
  // softmax([a, b])[0] - softmax([a, b])[1] = tanh((a - b) / 2), without overflow for large scores.
  return std::tanh((winner_score - loser_score) / 2.0);
}

PairChoice choose_pair(const std::vector<double>& scores, double threshold) {
  require(scores.size() >= 2, "compare: needs at least 2 scores, got " + std::to_string(scores.size()));
  require(std::isfinite(threshold) && threshold >= 0.0 && threshold < 1.0, "compare: threshold must be in [0, 1)");
  PairChoice c;
  for (size_t i = 0; i < scores.size(); ++i) {
    require(std::isfinite(scores[i]), "compare: score " + std::to_string(i) + " is not finite");
    if (scores[i] > scores[c.winner]) c.winner = static_cast<int64_t>(i);
    if (scores[i] <= scores[c.loser]) c.loser = static_cast<int64_t>(i);
  }
  if (c.winner == c.loser) c.loser = c.winner == 0 ? 1 : 0;  // all equal: any other candidate, margin 0
  c.margin = pair_margin(scores[c.winner], scores[c.loser]);
  c.kept = c.margin > threshold;
  return c;
}

}  // namespace spo::evaluator
