// SPO's pair rule (docs/method.md §2, the authors' preference_score_compare):
// of k candidate scores the best is the winner and the worst the loser; the
// pair is kept only if softmax([s_w, s_l])[0] - softmax([s_w, s_l])[1] > threshold,
// otherwise it is a tie and trains nothing.
#pragma once
#include <cstdint>
#include <vector>

namespace spo::evaluator {

struct PairChoice {
  int64_t winner = 0, loser = 0;
  double margin = 0.0;  // softmax difference = tanh((s_w - s_l) / 2), in [0, 1)
  bool kept = false;
};

// scores: k >= 2 finite values. Equal scores keep their order (the first maximum
// wins, the last minimum loses), so the choice is deterministic.
PairChoice choose_pair(const std::vector<double>& scores, double threshold);

// The margin of a given pair (winner's score first).
double pair_margin(double winner_score, double loser_score);

}  // namespace spo::evaluator
