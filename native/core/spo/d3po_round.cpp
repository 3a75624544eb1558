#include "spo/d3po_round.h"

#include "evaluator/pair_rule.h"
#include "spo/round_sampler.h"

namespace spo::trainer {

Choice d3po_label(double score_0, double score_1) {
  Choice c;
  c.kept = score_0 != score_1;
  c.winner = score_1 > score_0 ? 1 : 0;
  c.loser = 1 - c.winner;
  c.margin = c.winner == 0 ? evaluator::pair_margin(score_0, score_1) : evaluator::pair_margin(score_1, score_0);
  return c;
}

SamplingRound run_d3po_round(pipeline::Pipeline& pipe, evaluator::ImageScorer& judge,
                             const std::vector<std::string>& prompts, const SpoSettings& s, uint64_t seed,
                             const JobContext& ctx) {
  RoundSampler sampler(pipe, prompts, s, seed, "D3PO round");  // no gradients while it lives
  const auto& ts = sampler.timesteps();
  const int64_t P = static_cast<int64_t>(prompts.size()), rows = 2 * P, n_steps = sampler.steps();
  const auto cond2 = sampler.encode(prompts).repeat_rows(2);
  SamplingRound round;
  auto& st = round.stats;

  // One x_T per prompt, shared by its two trajectories (rows 2p and 2p + 1), which
  // draw their own noise from the first step on.
  at::Tensor x = sampler.initial_latents(P).repeat_interleave(2, 0);
  std::vector<at::Tensor> starts, ends;  // per step: [2P, ...] x_t and x_prev
  for (int64_t i = 0; i < n_steps; ++i) {
    ctx.check_cancelled();
    auto next = sampler.step(x, i, cond2);
    st.model_evaluations += rows;
    starts.push_back(x);
    ends.push_back(next);
    x = next;
    ctx.report({"sample", i + 1, n_steps, static_cast<double>(ts[i]), {}});
  }

  // Judge the two final images of each prompt; the label holds for every step.
  // (A latent scorer judges the clean latents themselves: no decode.)
  auto images = judge.needs_images() ? pipe.decode(x) : at::Tensor();
  std::vector<std::string> prompts2;
  for (const auto& p : prompts) prompts2.insert(prompts2.end(), {p, p});
  auto scores = judge.score_candidates(images, x, prompts2, at::zeros({rows}, at::kLong), s.max_batch).view({P, 2});
  st.images_scored += rows;
  ++st.branch_steps;  // the one comparison of the round
  for (int64_t p = 0; p < P; ++p) {
    const Choice c = d3po_label(scores[p][0].item<double>(), scores[p][1].item<double>());
    if (!c.kept) {
      ++st.pairs_tied;
      continue;
    }
    for (int64_t m = 0; m < n_steps; ++m) {
      TransitionPair pair;
      pair.prompt = p;
      pair.timestep = ts[m];
      pair.x_t_w = starts[m][2 * p + c.winner].clone();
      pair.x_w = ends[m][2 * p + c.winner].clone();
      pair.x_l = ends[m][2 * p + c.loser].clone();
      // The first transition leaves the shared x_T: one x_t serves both sides.
      pair.shared = m == 0;
      pair.x_t_l = pair.shared ? pair.x_t_w : starts[m][2 * p + c.loser].clone();
      pair.margin = c.margin;
      round.pairs.push_back(std::move(pair));
      ++st.pairs_kept;
    }
  }
  return round;
}

}  // namespace spo::trainer
