#include "spo/d3po_round.h"

#include <ATen/CPUGeneratorImpl.h>

#include "diffusion/ddim_scheduler.h"
#include "runtime/errors.h"

namespace spo::trainer {

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
  auto cond = pipe.encode_prompts(prompts, std::nullopt, height, width);
  auto cond2 = cond.repeat_rows(2);

  at::Tensor x = at::randn({P, pipe.latent_channels(), height / f, width / f}, gen, at::kFloat);
  std::vector<at::Tensor> starts, ends;  // per trained step: [2P, ...] x_t and x_prev
  std::vector<int64_t> step_t;
  for (int64_t i = 0; i < n_steps; ++i) {
    ctx.check_cancelled();
    if (i == s.divert_start_step) x = x.repeat_interleave(2, 0);  // two trajectories per prompt from here
    const bool split = i >= s.divert_start_step;
    const auto& c = split ? cond2 : cond;
    const int64_t rows = x.size(0);
    diffusion::StepRequest step;
    step.sample = x.to(pipe.options().device);
    step.timesteps = at::full({rows}, ts[i], at::kLong);
    step.model_output = pipe.guided_model_output(step.sample, step.timesteps, c, s.guidance_scale, s.max_batch);
    step.eta = s.eta;
    step.noise = at::randn(x.sizes(), gen, at::kFloat).to(step.sample.device());
    auto next = scheduler.step(step).prev_sample.to(at::kCPU);
    st.model_evaluations += rows;
    if (split) {
      starts.push_back(x);
      ends.push_back(next);
      step_t.push_back(ts[i]);
    }
    x = next;
    ctx.report({"sample", i + 1, n_steps, static_cast<double>(ts[i]), {}});
  }
  if (starts.empty()) return round;  // divert_start_step past the end: nothing to compare

  // Judge the two final images of each prompt; the label holds for every step.
  auto images = pipe.decode(x);
  std::vector<std::string> prompts2;
  for (const auto& p : prompts) prompts2.insert(prompts2.end(), {p, p});
  auto scores = judge.score_images(images, prompts2, at::zeros({2 * P}, at::kLong), s.max_batch).view({P, 2});
  st.images_scored += 2 * P;
  ++st.branch_steps;
  for (int64_t p = 0; p < P; ++p) {
    std::vector<double> row{scores[p][0].item<double>(), scores[p][1].item<double>()};
    const Choice c = choose(row, s, gen);
    if (!c.kept) {
      ++st.pairs_tied;
      continue;
    }
    for (size_t m = 0; m < starts.size(); ++m) {
      if (s.kappa >= 0 && step_t[m] > s.kappa) {
        ++st.pairs_cut;
        continue;
      }
      TransitionPair pair;
      pair.prompt = p;
      pair.timestep = step_t[m];
      pair.x_t_w = starts[m][2 * p + c.winner].clone();
      pair.x_t_l = starts[m][2 * p + c.loser].clone();
      pair.x_w = ends[m][2 * p + c.winner].clone();
      pair.x_l = ends[m][2 * p + c.loser].clone();
      // Both trajectories leave the shared latent at divert_start_step: that first transition shares x_t.
      pair.shared = m == 0;
      if (pair.shared) pair.x_t_l = pair.x_t_w;
      pair.margin = c.margin;
      round.pairs.push_back(std::move(pair));
      ++st.pairs_kept;
    }
  }
  return round;
}

}  // namespace spo::trainer
