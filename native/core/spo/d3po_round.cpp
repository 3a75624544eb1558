#include "spo/d3po_round.h"

#include <ATen/CPUGeneratorImpl.h>

#include "diffusion/ddim_scheduler.h"
#include "evaluator/pair_rule.h"
#include "runtime/errors.h"

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
  s.validate();
  require(!prompts.empty(), "D3PO round: no prompts");
  at::NoGradGuard no_grad;
  SamplingRound round;
  auto& st = round.stats;
  const int64_t P = static_cast<int64_t>(prompts.size());
  const int64_t height = s.height ? s.height : pipe.default_size(), width = s.width ? s.width : pipe.default_size();
  const int64_t f = pipe.vae_scale_factor();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  diffusion::DdimScheduler scheduler(pipe.scheduler_config());
  scheduler.set_timesteps(s.steps);
  const auto& ts = scheduler.timesteps();
  const int64_t n_steps = static_cast<int64_t>(ts.size());
  const auto cond2 = pipe.encode_prompts(prompts, std::nullopt, height, width).repeat_rows(2);

  // One x_T per prompt, shared by its two trajectories (rows 2p and 2p + 1), which
  // draw their own noise from the first step on.
  at::Tensor x = at::randn({P, pipe.latent_channels(), height / f, width / f}, gen, at::kFloat).repeat_interleave(2, 0);
  const int64_t rows = 2 * P;
  std::vector<at::Tensor> starts, ends;  // per step: [2P, ...] x_t and x_prev
  for (int64_t i = 0; i < n_steps; ++i) {
    ctx.check_cancelled();
    diffusion::StepRequest step;
    step.sample = x.to(pipe.options().device);
    step.timesteps = at::full({rows}, ts[i], at::kLong);
    step.model_output = pipe.guided_model_output(step.sample, step.timesteps, cond2, s.guidance_scale, s.max_batch);
    step.eta = s.eta;
    step.noise = at::randn(x.sizes(), gen, at::kFloat).to(step.sample.device());
    auto next = scheduler.step(step).prev_sample.to(at::kCPU);
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
